"""End to end with matrix-nio: one client sends, the other's sync receives
the messages with the right bodies, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import nio  # type: ignore[import-untyped]  # matrix-nio ships no type information
from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import new_user


def _nio_client(client: TestClient[Any, Any], user: Any) -> nio.AsyncClient:
    homeserver = str(client.make_url("")).rstrip("/")
    nc = nio.AsyncClient(homeserver, user.user_id, device_id=user.device_id)
    nc.access_token = user.token
    nc.user_id = user.user_id
    return nc


async def test_nio_clients_exchange_messages_in_order(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    sender, receiver = _nio_client(client, alice), _nio_client(client, bob)
    try:
        first = await receiver.sync(timeout=0)
        assert isinstance(first, nio.SyncResponse), first
        waiting = asyncio.create_task(receiver.sync(timeout=30000, since=first.next_batch))
        await asyncio.sleep(0.2)
        for body in ("one", "two", "three"):
            sent = await sender.room_send(
                room_id, "m.room.message", {"msgtype": "m.text", "body": body}
            )
            assert isinstance(sent, nio.RoomSendResponse), sent
        got: list[str] = []
        response = await asyncio.wait_for(waiting, 5)
        since = first.next_batch
        while len(got) < 3:
            assert isinstance(response, nio.SyncResponse), response
            room = response.rooms.join.get(room_id)
            if room is not None:
                got.extend(
                    e.body for e in room.timeline.events if isinstance(e, nio.RoomMessageText)
                )
            since = response.next_batch
            if len(got) < 3:
                response = await asyncio.wait_for(receiver.sync(timeout=5000, since=since), 6)
        assert got == ["one", "two", "three"]
    finally:
        await sender.close()
        await receiver.close()
