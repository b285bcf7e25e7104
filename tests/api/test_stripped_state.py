"""Stripped state on invites and knocks (spec "Stripped state"; m.room.create
required since v1.16, MSC4311)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]


def _by_type(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for e in events:
        assert set(e) == {"type", "state_key", "content", "sender"}, e
    return {e["type"]: e for e in events if e["type"] != "m.room.member"}


async def _invite_state(user: User, room_id: str) -> list[dict[str, Any]]:
    invited = (await user.ok("GET", "/sync"))["rooms"]["invite"]
    events: list[dict[str, Any]] = invited[room_id]["invite_state"]["events"]
    return events


async def test_invite_carries_stripped_state_with_create_event(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(name="Plans", topic="what next")
    await alice.invite(room_id, bob)
    events = await _invite_state(bob, room_id)
    by_type = _by_type(events)
    assert by_type["m.room.create"]["content"]["room_version"]
    assert by_type["m.room.name"]["content"]["name"] == "Plans"
    assert by_type["m.room.topic"]["content"]["topic"] == "what next"
    assert by_type["m.room.join_rules"]["content"]["join_rule"] == "invite"
    members = {e["state_key"]: e for e in events if e["type"] == "m.room.member"}
    assert members[alice.user_id]["content"]["membership"] == "join"
    assert members[bob.user_id]["content"]["membership"] == "invite"
    # The member event itself carries it for clients reading the room later.
    state = await alice.ok("GET", f"/rooms/{room_id}/state")
    invite = [e for e in state if e["type"] == "m.room.member" and e["state_key"] == bob.user_id]
    carried = invite[0]["unsigned"]["invite_room_state"]
    assert "m.room.create" in _by_type(carried)


async def test_create_room_invite_carries_stripped_state(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(name="Direct", invite=[bob.user_id], is_direct=True)
    by_type = _by_type(await _invite_state(bob, room_id))
    assert "m.room.create" in by_type
    assert by_type["m.room.name"]["content"]["name"] == "Direct"


async def test_knock_carries_stripped_state_with_create_event(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(room_version="10", name="Knock here")
    status, _ = await alice.put_state(room_id, "m.room.join_rules", {"join_rule": "knock"})
    assert status == 200
    await bob.ok("POST", f"/knock/{room_id}", {})
    knocked = (await bob.ok("GET", "/sync"))["rooms"]["knock"]
    by_type = _by_type(knocked[room_id]["knock_state"]["events"])
    assert "m.room.create" in by_type
    assert by_type["m.room.join_rules"]["content"]["join_rule"] == "knock"


async def test_v12_invite_carries_the_full_create_event(client: Client) -> None:
    """In v12 rooms the room id is the create event's hash: the invitee gets
    the whole event (MSC4311, as Synapse and Complement expect)."""
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(room_version="12", preset="public_chat")
    await alice.invite(room_id, bob)
    events = await _invite_state(bob, room_id)
    create = next(e for e in events if e["type"] == "m.room.create")
    assert "origin_server_ts" in create
    assert "hashes" in create
    assert "unsigned" not in create
    rest = [e for e in events if e["type"] != "m.room.create"]
    assert _by_type(rest)["m.room.join_rules"]["content"]["join_rule"] == "public"


async def test_huge_topic_does_not_make_the_invite_too_large(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(name="Big", topic="x" * 30_000)
    await alice.invite(room_id, bob)
    by_type = _by_type(await _invite_state(bob, room_id))
    assert "m.room.create" in by_type
    assert by_type["m.room.name"]["content"]["name"] == "Big"
    assert "m.room.topic" not in by_type
