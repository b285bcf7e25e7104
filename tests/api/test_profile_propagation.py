"""A displayname or avatar change is sent as a new member event into every joined room."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient

from tests.api.helpers import services_of
from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]


def profile_path(user: User, key: str) -> str:
    return f"/profile/{quote(user.user_id, safe='')}/{key}"


async def member(user: User, room_id: str, target: User) -> Any:
    return await user.ok("GET", f"/rooms/{room_id}/state/m.room.member/{target.user_id}")


async def test_displayname_change_updates_every_joined_room(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    one = await alice.create_room(preset="public_chat")
    two = await bob.create_room(preset="public_chat")
    await alice.join(two)
    left = await alice.create_room(preset="public_chat")
    await bob.join(left)
    await alice.ok("POST", f"/rooms/{left}/leave", {})
    await alice.ok("PUT", profile_path(alice, "displayname"), {"displayname": "Alice A."})
    for room_id in (one, two):
        content = await member(alice, room_id, alice)
        assert content == {"membership": "join", "displayname": "Alice A."}
    assert (await member(bob, left, alice))["membership"] == "leave"


async def test_avatar_change_and_clear_update_member_event(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await alice.ok("PUT", profile_path(alice, "avatar_url"), {"avatar_url": "mxc://test.local/x"})
    content = await member(alice, room_id, alice)
    assert content["avatar_url"] == "mxc://test.local/x"
    assert content["displayname"] == "alice"
    await alice.ok("DELETE", profile_path(alice, "avatar_url"))
    assert "avatar_url" not in await member(alice, room_id, alice)


async def test_profile_change_is_visible_in_timeline(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await alice.ok("PUT", profile_path(alice, "displayname"), {"displayname": "New"})
    page = await alice.ok("GET", f"/rooms/{room_id}/messages", params={"dir": "b", "limit": "1"})
    event = page["chunk"][0]
    assert event["type"] == "m.room.member"
    assert event["content"]["displayname"] == "New"
    assert event["unsigned"]["prev_content"]["displayname"] == "alice"


async def test_profile_change_survives_a_room_that_rejects_it(client: Client) -> None:
    alice = await new_user(client, "alice")
    fine = await alice.create_room()
    # A membership row for a room the server cannot send into: the update
    # there fails, the profile change and the other rooms do not.
    async with services_of(client).db.write() as txn:
        await txn.execute(
            "INSERT INTO current_state_events (room_id, type, state_key, event_id, membership) "
            "VALUES ($1, $2, $3, $4, $5)",
            "!0ghost:test.local",  # sorts first
            "m.room.member",
            alice.user_id,
            "$ghost",
            "join",
        )
    await alice.ok("PUT", profile_path(alice, "displayname"), {"displayname": "Still works"})
    assert (await member(alice, fine, alice))["displayname"] == "Still works"
    assert await alice.ok("GET", profile_path(alice, "displayname")) == {
        "displayname": "Still works"
    }


async def test_unchanged_profile_sends_nothing(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    before = await alice.ok("GET", f"/rooms/{room_id}/messages", params={"dir": "b"})
    await alice.ok("PUT", profile_path(alice, "displayname"), {"displayname": "alice"})
    after = await alice.ok("GET", f"/rooms/{room_id}/messages", params={"dir": "b"})
    assert len(after["chunk"]) == len(before["chunk"])
