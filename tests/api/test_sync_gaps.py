"""GET /sync: state_after, state at the timeline start, device_lists.left,
redundant lazy members, forgotten rooms, threaded counts, batched counts,
filtered timelines and wake-ups when rooms commit out of order."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import services_of
from tests.api.rooms_helpers import V3, User, new_user, sync

Client = TestClient[Any, Any]
_txns = itertools.count()


def ids(section: dict[str, Any]) -> list[str]:
    return [e["event_id"] for e in section["events"]]


def members(section: dict[str, Any]) -> set[str]:
    return {e["state_key"] for e in section["events"] if e["type"] == "m.room.member"}


async def shared_room(client: Client) -> tuple[User, User, str]:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    return alice, bob, room_id


async def test_state_after_replaces_state_when_requested(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="Garden")
    data = await sync(alice, use_state_after="true")
    room = data["rooms"]["join"][room_id]
    assert "state" not in room
    types = {e["type"] for e in room["state_after"]["events"]}
    # Everything up to the END of the timeline, timeline state included.
    assert {"m.room.create", "m.room.name", "m.room.member"} <= types
    plain = (await sync(alice))["rooms"]["join"][room_id]
    assert "state_after" not in plain
    assert "state" in plain


async def test_state_after_incremental_includes_timeline_state(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="Old")
    since = (await sync(alice, use_state_after="true"))["next_batch"]
    status, body = await alice.put_state(room_id, "m.room.name", {"name": "New"})
    assert status == 200
    await alice.send(room_id, "after rename")
    data = await sync(alice, since=since, use_state_after="true")
    room = data["rooms"]["join"][room_id]
    assert body["event_id"] in ids(room["timeline"])
    assert ids(room["state_after"]) == [body["event_id"]]
    # Nothing else changed: an unchanged room has an empty state_after block.
    await alice.send(room_id, "plain")
    again = await sync(alice, since=data["next_batch"], use_state_after="true")
    assert again["rooms"]["join"][room_id]["state_after"]["events"] == []


async def test_state_after_of_left_room_is_state_at_leave(client: Client) -> None:
    alice, bob, room_id = await shared_room(client)
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    await alice.put_state(room_id, "m.room.topic", {"topic": "after bob left"})
    flt = {"room": {"include_leave": True}}
    data = await sync(bob, use_state_after="true", filter=flt)
    left = data["rooms"]["leave"][room_id]
    assert "state" not in left
    state = {(e["type"], e["state_key"]): e for e in left["state_after"]["events"]}
    assert state[("m.room.member", bob.user_id)]["content"]["membership"] == "leave"
    assert ("m.room.topic", "") not in state


async def test_initial_state_is_state_at_timeline_start(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="Old")
    for i in range(3):
        await alice.send(room_id, f"m{i}")
    status, body = await alice.put_state(room_id, "m.room.name", {"name": "New"})
    assert status == 200
    await alice.send(room_id, "last")
    data = await sync(alice, filter={"room": {"timeline": {"limit": 2}}})
    room = data["rooms"]["join"][room_id]
    assert ids(room["timeline"])[0] == body["event_id"]
    names = [e["content"]["name"] for e in room["state"]["events"] if e["type"] == "m.room.name"]
    # The state block is the state BEFORE the timeline: the old name.
    assert names == ["Old"]


async def test_initial_state_is_current_when_timeline_has_no_state(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="Garden")
    for i in range(3):
        await alice.send(room_id, f"m{i}")
    data = await sync(alice, filter={"room": {"timeline": {"limit": 2}}})
    room = data["rooms"]["join"][room_id]
    types = {e["type"] for e in room["state"]["events"]}
    assert {"m.room.create", "m.room.name", "m.room.power_levels"} <= types


async def test_device_lists_left_lists_user_sharing_no_room(client: Client) -> None:
    alice, bob, room_id = await shared_room(client)
    since = (await sync(alice))["next_batch"]
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    data = await sync(alice, since=since)
    assert data["device_lists"]["left"] == [bob.user_id]
    again = await sync(alice, since=data["next_batch"])
    assert again["device_lists"]["left"] == []


async def test_device_lists_left_empty_when_still_sharing_a_room(client: Client) -> None:
    alice, bob, room_id = await shared_room(client)
    other = await alice.create_room(preset="public_chat")
    await bob.join(other)
    since = (await sync(alice))["next_batch"]
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    data = await sync(alice, since=since)
    assert data["device_lists"]["left"] == []


async def test_device_lists_left_when_syncing_user_leaves(client: Client) -> None:
    alice, bob, room_id = await shared_room(client)
    since = (await sync(bob))["next_batch"]
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    data = await sync(bob, since=since)
    assert data["device_lists"]["left"] == [alice.user_id]


LAZY = {"room": {"state": {"lazy_load_members": True}}}
LAZY_REDUNDANT = {"room": {"state": {"lazy_load_members": True, "include_redundant_members": True}}}


async def test_lazy_members_not_resent_to_same_device(client: Client) -> None:
    alice, bob, room_id = await shared_room(client)
    await bob.send(room_id, "one")
    first = await sync(alice, filter=LAZY)
    room = first["rooms"]["join"][room_id]
    assert bob.user_id in members(room["state"]) | members(room["timeline"])
    await bob.send(room_id, "two")
    second = await sync(alice, since=first["next_batch"], filter=LAZY)
    assert members(second["rooms"]["join"][room_id]["state"]) == set()


async def test_lazy_members_resent_with_include_redundant_members(client: Client) -> None:
    alice, bob, room_id = await shared_room(client)
    await bob.send(room_id, "one")
    first = await sync(alice, filter=LAZY_REDUNDANT)
    await bob.send(room_id, "two")
    second = await sync(alice, since=first["next_batch"], filter=LAZY_REDUNDANT)
    assert bob.user_id in members(second["rooms"]["join"][room_id]["state"])


async def test_lazy_members_sent_to_a_new_device(client: Client) -> None:
    alice, bob, room_id = await shared_room(client)
    await bob.send(room_id, "one")
    since = (await sync(alice, filter=LAZY))["next_batch"]
    login = await client.post(
        V3 + "/login",
        json={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "alice"},
            "password": "password-123",
        },
    )
    body = await login.json()
    assert login.status == 200, body
    other = User(client, body)
    await bob.send(room_id, "two")
    data = await sync(other, since=since, filter=LAZY)
    assert bob.user_id in members(data["rooms"]["join"][room_id]["state"])


async def test_lazy_member_cache_is_bounded() -> None:
    from homeserver.services.sync.lazy_members import SentMembers

    sent = SentMembers(per_device=3, devices=2)
    sent.record("@a:x", "D1", "!r:x", [(f"@u{i}:x", f"$e{i}") for i in range(10)])
    sent.record("@a:x", "D2", "!r:x", [("@u:x", "$e")])
    sent.record("@a:x", "D3", "!r:x", [("@u:x", "$e")])
    assert sent.device_count() == 2
    assert sent.entry_count("@a:x", "D1") == 0
    assert sent.entry_count("@a:x", "D3") == 1
    assert sent.already_sent("@a:x", "D3", "!r:x", "@u:x") == "$e"


async def test_forgotten_room_absent_from_initial_leave(client: Client) -> None:
    _alice, bob, room_id = await shared_room(client)
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    flt = {"room": {"include_leave": True}}
    assert room_id in (await sync(bob, filter=flt))["rooms"]["leave"]
    await bob.ok("POST", f"/rooms/{room_id}/forget", {})
    assert room_id not in (await sync(bob, filter=flt))["rooms"]["leave"]


async def test_forgotten_room_leave_still_in_incremental_sync(client: Client) -> None:
    # Synapse and Complement (TestRoomForget): a device that syncs from before
    # the leave learns of it even when the room was forgotten meanwhile.
    alice, bob, room_id = await shared_room(client)
    since = (await sync(bob))["next_batch"]
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    await bob.ok("POST", f"/rooms/{room_id}/forget", {})
    await alice.send(room_id, "after the forget")
    flt = {"room": {"include_leave": True}}
    data = await sync(bob, since=since, filter=flt)
    assert room_id in data["rooms"]["leave"]
    # Later syncs no longer carry it.
    data = await sync(bob, since=data["next_batch"], filter=flt, timeout=0)
    assert room_id not in data["rooms"]["leave"]


async def send_content(user: User, room_id: str, content: dict[str, Any]) -> str:
    data = await user.ok("PUT", f"/rooms/{room_id}/send/m.room.message/g{next(_txns)}", content)
    event_id: str = data["event_id"]
    return event_id


async def dm(client: Client) -> tuple[User, User, str]:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat")
    await alice.invite(room_id, bob)
    await bob.join(room_id)
    return alice, bob, room_id


async def test_unread_thread_notifications_split_main_and_threads(client: Client) -> None:
    alice, bob, room_id = await dm(client)
    root = await alice.send(room_id, "root")
    await alice.send(room_id, "main two")
    for _ in range(2):
        await send_content(
            alice,
            room_id,
            {
                "msgtype": "m.text",
                "body": "in thread",
                "m.relates_to": {"rel_type": "m.thread", "event_id": root},
            },
        )
    flt = {"room": {"timeline": {"unread_thread_notifications": True}}}
    room = (await sync(bob, filter=flt))["rooms"]["join"][room_id]
    assert room["unread_notifications"] == {"notification_count": 2, "highlight_count": 0}
    assert room["unread_thread_notifications"] == {
        root: {"notification_count": 2, "highlight_count": 0}
    }
    plain = (await sync(bob))["rooms"]["join"][room_id]
    assert plain["unread_notifications"] == {"notification_count": 4, "highlight_count": 0}
    assert "unread_thread_notifications" not in plain


async def test_push_counts_many_matches_per_room_counts(client: Client) -> None:
    alice, bob, first = await dm(client)
    second = await alice.create_room(preset="private_chat")
    await alice.invite(second, bob)
    await bob.join(second)
    third = await alice.create_room(preset="private_chat")
    a = await alice.send(first, "one")
    await alice.send(first, "two")
    await alice.send(second, "three")
    await bob.ok("POST", f"/rooms/{first}/receipt/m.read/{a}", {})
    push = services_of(client).push
    rooms = [first, second, third]
    many = await push.push_counts_many(bob.user_id, rooms)
    assert many == {r: await push.push_counts(bob.user_id, r) for r in rooms}
    assert many[first] == (1, 0)
    assert many[second] == (1, 0)
    assert many[third] == (0, 0)
    data = await sync(bob)
    counts = data["rooms"]["join"][second]["unread_notifications"]
    assert counts == {"notification_count": 1, "highlight_count": 0}


async def test_filtered_timeline_pages_back_to_limit(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    sent = [await alice.send(room_id, f"m{i}") for i in range(5)]
    for i in range(12):
        await alice.put_state(room_id, "m.room.topic", {"topic": f"t{i}"})
    flt = {"room": {"timeline": {"limit": 3, "types": ["m.room.message"]}}}
    room = (await sync(alice, filter=flt))["rooms"]["join"][room_id]
    assert ids(room["timeline"]) == sent[-3:]
    assert room["timeline"]["limited"] is True


async def test_filtered_timeline_stops_at_history_start(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    sent = await alice.send(room_id, "only")
    for i in range(12):
        await alice.put_state(room_id, "m.room.topic", {"topic": f"t{i}"})
    flt = {"room": {"timeline": {"limit": 5, "types": ["m.room.message"]}}}
    room = (await sync(alice, filter=flt))["rooms"]["join"][room_id]
    assert ids(room["timeline"]) == [sent]
    assert room["timeline"]["limited"] is False


async def test_out_of_order_commit_wakes_room_waiters(client: Client) -> None:
    alice, bob, room_id = await shared_room(client)
    since = (await sync(bob))["next_batch"]
    stream = services_of(client).rooms.persister.event_stream
    # A persist of another room holds the next position, uncommitted.
    held = stream.allocate()
    try:
        waiting = asyncio.create_task(sync(bob, since=since, timeout=20000))
        await asyncio.sleep(0.1)
        event_id = await alice.send(room_id, "committed first")
        await asyncio.sleep(0.2)
        # Not visible yet: the stream cannot pass the held position.
        assert not waiting.done()
    finally:
        stream.finish(held)
    data = await asyncio.wait_for(waiting, 5)
    assert ids(data["rooms"]["join"][room_id]["timeline"]) == [event_id]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["use_state_after", "full_state", "filter", "since", "set_presence"]),
        st.one_of(st.text(max_size=12), st.sampled_from(["true", "false", "{}", '{"room":1}'])),
        max_size=4,
    )
)
async def test_sync_random_params_never_500(client: Client, params: dict[str, str]) -> None:
    if not hasattr(client, "_fuzz_user"):
        client._fuzz_user = await new_user(client, "fuzzer")  # type: ignore[attr-defined]
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    params["timeout"] = "0"
    resp = await client.get(V3 + "/sync", params=params, headers=user.headers)
    assert resp.status < 500
    body = await resp.json()
    if resp.status >= 400:
        assert isinstance(body["errcode"], str)
    elif params.get("use_state_after") == "true":
        assert all("state" not in r for r in body["rooms"]["join"].values())
