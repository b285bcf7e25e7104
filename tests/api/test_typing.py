"""PUT /rooms/{roomId}/typing/{userId}."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import User, new_user


async def _typing_in(user: User, room_id: str, since: str | None = None) -> list[str] | None:
    params = {"filter": json.dumps({"room": {"timeline": {"limit": 0}}})}
    if since:
        params["since"] = since
    data = await user.ok("GET", "/sync", params=params)
    room = data["rooms"]["join"].get(room_id)
    if room is None:
        return None
    for event in room["ephemeral"]["events"]:
        if event["type"] == "m.typing":
            users: list[str] = event["content"]["user_ids"]
            return users
    return None


async def test_typing_then_stop_is_seen_by_other_member(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await alice.ok("PUT", f"/rooms/{room_id}/typing/{alice.user_id}", {"typing": True})
    assert await _typing_in(bob, room_id) == [alice.user_id]
    since = (await bob.ok("GET", "/sync"))["next_batch"]
    await alice.ok("PUT", f"/rooms/{room_id}/typing/{alice.user_id}", {"typing": False})
    assert await _typing_in(bob, room_id, since) == []


async def test_typing_expires_after_timeout(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await alice.ok(
        "PUT", f"/rooms/{room_id}/typing/{alice.user_id}", {"typing": True, "timeout": 1500}
    )
    # Generous margins: the suite runs on loaded machines.
    assert await _typing_in(alice, room_id) == [alice.user_id]
    await asyncio.sleep(2.0)
    assert await _typing_in(alice, room_id) is None


async def test_typing_requires_joined_member(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    status, data = await bob.request(
        "PUT", f"/rooms/{room_id}/typing/{bob.user_id}", {"typing": True}
    )
    assert (status, data["errcode"]) == (403, "M_FORBIDDEN")


async def test_typing_for_other_user_is_forbidden(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    status, data = await alice.request(
        "PUT", f"/rooms/{room_id}/typing/{bob.user_id}", {"typing": True}
    )
    assert (status, data["errcode"]) == (403, "M_FORBIDDEN")


async def test_typing_without_flag_is_missing_param(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, data = await alice.request("PUT", f"/rooms/{room_id}/typing/{alice.user_id}", {})
    assert (status, data["errcode"]) == (400, "M_MISSING_PARAM")
