"""End to end with a real client library (matrix-nio) against the test server."""

from __future__ import annotations

from typing import Any

import nio  # type: ignore[import-untyped]  # matrix-nio ships no type information
from aiohttp.test_utils import TestClient


async def test_nio_register_create_invite_join_send_read(client: TestClient[Any, Any]) -> None:
    url = str(client.make_url("")).rstrip("/")
    alice = nio.AsyncClient(url, "alice")
    bob = nio.AsyncClient(url, "bob")
    try:
        for c, name in ((alice, "alice"), (bob, "bob")):
            registered = await c.register(name, "password-123")
            assert isinstance(registered, nio.RegisterResponse), registered
        created = await alice.room_create(name="nio room")
        assert isinstance(created, nio.RoomCreateResponse), created
        room_id = created.room_id
        invited = await alice.room_invite(room_id, bob.user_id)
        assert isinstance(invited, nio.RoomInviteResponse), invited
        joined = await bob.join(room_id)
        assert isinstance(joined, nio.JoinResponse), joined
        sent = await bob.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": "hello from nio"}
        )
        assert isinstance(sent, nio.RoomSendResponse), sent
        messages = await alice.room_messages(room_id, start="", limit=10)
        assert isinstance(messages, nio.RoomMessagesResponse), messages
        texts = [e for e in messages.chunk if isinstance(e, nio.RoomMessageText)]
        assert [(e.sender, e.body) for e in texts] == [(bob.user_id, "hello from nio")]
        rooms = await bob.joined_rooms()
        assert isinstance(rooms, nio.JoinedRoomsResponse), rooms
        assert rooms.rooms == [room_id]
    finally:
        await alice.close()
        await bob.close()
