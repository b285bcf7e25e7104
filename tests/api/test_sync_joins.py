"""GET /sync around joins: what a newly joined room and a new member bring.

- a room joined since the token comes ``limited``, so the client fetches
  the history before the token through ``prev_batch``;
- the current presence of users who start sharing a room arrives once, in
  the incremental sync after the join, on both sides;
- an initial sync carries ``m.push_rules`` even for a user who never
  changed a rule.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import new_user, shared_room, sync

Client = TestClient[Any, Any]


def presence_senders(data: dict[str, Any]) -> list[str]:
    return sorted(e["sender"] for e in data["presence"]["events"])


async def test_newly_joined_room_is_limited_and_its_gap_is_history(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    before = [await alice.send(room_id, f"before {i}") for i in range(4)]
    since = (await sync(bob))["next_batch"]
    after = [await alice.send(room_id, f"after {i}") for i in range(4)]
    await bob.join(room_id)
    flt = {"room": {"timeline": {"limit": 10, "types": ["m.room.message"]}}}
    data = await sync(bob, since=since, filter=flt)
    timeline = data["rooms"]["join"][room_id]["timeline"]
    assert [e["event_id"] for e in timeline["events"]] == after
    assert timeline["limited"] is True
    older = await bob.ok(
        "GET",
        f"/rooms/{room_id}/messages",
        params={
            "dir": "b",
            "from": timeline["prev_batch"],
            "filter": json.dumps(flt["room"]["timeline"]),
        },
    )
    assert [e["event_id"] for e in older["chunk"]] == before[::-1]


async def test_rejoined_room_sends_nothing_twice(client: Client) -> None:
    alice, bob, room_id = await shared_room(client)
    seen = await alice.send(room_id, "seen")
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    since = (await sync(bob))["next_batch"]
    missed = await alice.send(room_id, "missed")
    await bob.join(room_id)
    data = await sync(bob, since=since)
    timeline = data["rooms"]["join"][room_id]["timeline"]
    ids = [e["event_id"] for e in timeline["events"]]
    # What came after the token, not what the client had before it left.
    assert ids[0] == missed
    assert seen not in ids
    assert timeline["limited"] is True
    gap = await bob.ok(
        "GET", f"/rooms/{room_id}/messages", params={"dir": "b", "from": timeline["prev_batch"]}
    )
    first = gap["chunk"][0]
    assert (first["type"], first["state_key"], first["content"]["membership"]) == (
        "m.room.member",
        bob.user_id,
        "leave",
    )


async def test_new_member_presence_reaches_both_sides_once(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await sync(alice, set_presence="online")
    await sync(bob, set_presence="online")
    # Both tokens are taken after both presence changes.
    alice_since = (await sync(alice))["next_batch"]
    bob_since = (await sync(bob))["next_batch"]
    await bob.join(room_id)
    # The existing member hears of the new member's presence...
    data = await sync(alice, since=alice_since)
    assert presence_senders(data) == [bob.user_id]
    again = await sync(alice, since=data["next_batch"])
    assert presence_senders(again) == []
    # ...and the joiner of everyone already there.
    data = await sync(bob, since=bob_since)
    assert presence_senders(data) == [alice.user_id]
    again = await sync(bob, since=data["next_batch"])
    assert presence_senders(again) == []


async def test_initial_sync_carries_default_push_rules(client: Client) -> None:
    alice = await new_user(client, "alice")
    data = await sync(alice)
    rules = [e for e in data["account_data"]["events"] if e["type"] == "m.push_rules"]
    assert len(rules) == 1
    served = await alice.ok("GET", "/pushrules/")
    assert rules[0]["content"] == served
    incremental = await sync(alice, since=data["next_batch"])
    assert incremental["account_data"]["events"] == []
    # A filter that leaves the type out is honoured.
    flt = {"account_data": {"not_types": ["m.push_rules"]}}
    assert (await sync(alice, filter=flt))["account_data"]["events"] == []


async def test_room_joined_and_left_between_syncs_is_limited(client: Client) -> None:
    """A room the client never saw joined comes in ``leave`` with ``limited``:
    the shared history before the token is the member's to fetch."""
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    before = await alice.send(room_id, "before bob")
    since = (await sync(bob))["next_batch"]
    await bob.join(room_id)
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    data = await sync(bob, since=since)
    timeline = data["rooms"]["leave"][room_id]["timeline"]
    assert timeline["limited"] is True
    older = await bob.ok(
        "GET", f"/rooms/{room_id}/messages", params={"dir": "b", "from": timeline["prev_batch"]}
    )
    assert before in [e["event_id"] for e in older["chunk"]]


async def test_sync_marks_the_user_online_unless_told_otherwise(client: Client) -> None:
    """Spec: without ``set_presence`` a /sync marks its user online."""
    alice = await new_user(client, "alice")
    await sync(alice, set_presence="offline")
    presence = await alice.ok("GET", f"/presence/{alice.user_id}/status")
    assert presence["presence"] == "offline"
    await sync(alice)
    presence = await alice.ok("GET", f"/presence/{alice.user_id}/status")
    assert presence["presence"] == "online"
    await alice.ok("PUT", f"/presence/{alice.user_id}/status", {"presence": "unavailable"})
    await sync(alice, set_presence="unavailable")
    presence = await alice.ok("GET", f"/presence/{alice.user_id}/status")
    assert presence["presence"] == "unavailable"


async def test_members_at_prev_batch_of_a_whole_room_timeline(client: Client) -> None:
    """Complement's TestGetRoomMembersAtPoint: when an initial sync's timeline
    holds the whole room, ``prev_batch`` is the sync's position (as Synapse
    answers), so ``/members?at=`` gives the members at that sync."""
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await alice.send(room_id, "Hello world!")
    data = await sync(alice)
    timeline = data["rooms"]["join"][room_id]["timeline"]
    assert timeline["limited"] is False
    await bob.join(room_id)
    await bob.send(room_id, "Hello back")
    members = await alice.ok(
        "GET", f"/rooms/{room_id}/members", params={"at": timeline["prev_batch"]}
    )
    assert [m["state_key"] for m in members["chunk"]] == [alice.user_id]
