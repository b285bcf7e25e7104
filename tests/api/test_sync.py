"""GET /sync: initial and incremental, long-poll wake-up, rooms sections,
timeline and state semantics, filters, ephemeral, account data, errors."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import new_user, sync


def bodies(room: dict[str, Any]) -> list[str]:
    return [
        e["content"].get("body")
        for e in room["timeline"]["events"]
        if e["type"] == "m.room.message"
    ]


async def test_initial_sync_lists_joined_room_with_state_and_timeline(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="Garden")
    await alice.send(room_id, "hello")
    data = await sync(alice)
    room = data["rooms"]["join"][room_id]
    assert bodies(room) == ["hello"]
    types = {e["type"] for e in room["state"]["events"]} | {
        e["type"] for e in room["timeline"]["events"]
    }
    assert "m.room.create" in types
    assert "m.room.name" in types
    assert all("room_id" not in e for e in room["timeline"]["events"])
    assert room["summary"]["m.joined_member_count"] == 1
    assert room["unread_notifications"] == {"notification_count": 0, "highlight_count": 0}
    assert data["next_batch"].startswith("s")


async def test_incremental_sync_returns_only_new_events(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await alice.send(room_id, "one")
    first = await sync(alice)
    await alice.send(room_id, "two")
    second = await sync(alice, since=first["next_batch"])
    room = second["rooms"]["join"][room_id]
    assert bodies(room) == ["two"]
    assert room["timeline"]["limited"] is False
    third = await sync(alice, since=second["next_batch"])
    assert third["rooms"]["join"] == {}


async def test_send_wakes_waiting_sync_before_timeout(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    since = (await sync(bob))["next_batch"]
    started = time.monotonic()
    waiting = asyncio.create_task(sync(bob, since=since, timeout=30000))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await alice.send(room_id, "wake up")
    data = await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - started < 2.5
    assert bodies(data["rooms"]["join"][room_id]) == ["wake up"]


async def test_sync_times_out_with_same_positions_when_nothing_happens(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    await alice.create_room()
    since = (await sync(alice))["next_batch"]
    data = await sync(alice, since=since, timeout=200)
    assert data["rooms"]["join"] == {}
    assert data["next_batch"] == since


async def test_limited_timeline_prev_batch_continues_with_messages(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    for i in range(8):
        await alice.send(room_id, f"m{i}")
    data = await sync(alice, filter={"room": {"timeline": {"limit": 3}}})
    room = data["rooms"]["join"][room_id]
    assert bodies(room) == ["m5", "m6", "m7"]
    assert room["timeline"]["limited"] is True
    page = await alice.ok(
        "GET",
        f"/rooms/{room_id}/messages",
        params={"from": room["timeline"]["prev_batch"], "dir": "b", "limit": "3"},
    )
    assert [e["content"]["body"] for e in page["chunk"]] == ["m4", "m3", "m2"]


async def test_incremental_limited_timeline_carries_state_gap(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    since = (await sync(alice))["next_batch"]
    status, _ = await alice.put_state(room_id, "m.room.topic", {"topic": "new topic"})
    assert status == 200
    for i in range(4):
        await alice.send(room_id, f"m{i}")
    data = await sync(alice, since=since, filter={"room": {"timeline": {"limit": 2}}})
    room = data["rooms"]["join"][room_id]
    assert room["timeline"]["limited"] is True
    assert [e["content"] for e in room["state"]["events"] if e["type"] == "m.room.topic"] == [
        {"topic": "new topic"}
    ]


async def test_invite_appears_in_invite_section_with_invite_state(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(name="Secret")
    since = (await sync(bob))["next_batch"]
    await alice.invite(room_id, bob)
    data = await sync(bob, since=since, timeout=5000)
    invite = data["rooms"]["invite"][room_id]
    events = invite["invite_state"]["events"]
    member = [e for e in events if e["type"] == "m.room.member" and e["state_key"] == bob.user_id]
    assert member[0]["content"]["membership"] == "invite"
    assert room_id not in data["rooms"]["join"]


async def test_leave_appears_in_leave_section(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    since = (await sync(bob))["next_batch"]
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    data = await sync(bob, since=since)
    left = data["rooms"]["leave"][room_id]
    last = left["timeline"]["events"][-1]
    assert (last["type"], last["content"]["membership"]) == ("m.room.member", "leave")
    assert room_id not in data["rooms"]["join"]


async def test_account_data_global_and_room_arrive(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    since = (await sync(alice))["next_batch"]
    await alice.ok("PUT", f"/user/{alice.user_id}/account_data/org.example.a", {"x": 1})
    await alice.ok(
        "PUT", f"/user/{alice.user_id}/rooms/{room_id}/account_data/org.example.b", {"y": 2}
    )
    data = await sync(alice, since=since)
    assert {"type": "org.example.a", "content": {"x": 1}} in data["account_data"]["events"]
    room_data = data["rooms"]["join"][room_id]["account_data"]["events"]
    assert room_data == [{"type": "org.example.b", "content": {"y": 2}}]


async def test_typing_and_receipts_arrive_as_ephemeral(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    event_id = await alice.send(room_id, "read me")
    since = (await sync(bob))["next_batch"]
    await alice.ok(
        "PUT", f"/rooms/{room_id}/typing/{alice.user_id}", {"typing": True, "timeout": 10000}
    )
    await alice.ok("POST", f"/rooms/{room_id}/receipt/m.read/{event_id}", {})
    data = await sync(bob, since=since)
    ephemeral = data["rooms"]["join"][room_id]["ephemeral"]["events"]
    by_type = {e["type"]: e["content"] for e in ephemeral}
    assert by_type["m.typing"] == {"user_ids": [alice.user_id]}
    assert alice.user_id in by_type["m.receipt"][event_id]["m.read"]


async def test_filter_types_and_event_fields_applied(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await alice.send(room_id, "hi")
    await alice.send(room_id, "x", event_type="org.example.other")
    flt = {
        "event_fields": ["type", "content.body"],
        "room": {"timeline": {"types": ["m.room.message"]}, "state": {"types": []}},
    }
    data = await sync(alice, filter=flt)
    room = data["rooms"]["join"][room_id]
    assert room["timeline"]["events"] == [{"type": "m.room.message", "content": {"body": "hi"}}]
    assert room["state"]["events"] == []


async def test_filter_by_id_and_not_rooms(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    kept = await alice.create_room()
    dropped = await alice.create_room()
    resp = await alice.ok(
        "POST", f"/user/{alice.user_id}/filter", {"room": {"not_rooms": [dropped]}}
    )
    data = await sync(alice, filter=resp["filter_id"])
    assert kept in data["rooms"]["join"]
    assert dropped not in data["rooms"]["join"]


async def test_lazy_loading_members_keeps_only_timeline_senders(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await carol.join(room_id)
    for i in range(3):
        await bob.send(room_id, f"b{i}")
    flt = {"room": {"timeline": {"limit": 2}, "state": {"lazy_load_members": True}}}
    data = await sync(alice, filter=flt)
    room = data["rooms"]["join"][room_id]
    members = {e["state_key"] for e in room["state"]["events"] if e["type"] == "m.room.member"}
    assert members == {alice.user_id, bob.user_id}
    assert room["summary"]["m.joined_member_count"] == 3


async def test_bad_since_token_is_rejected(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request("GET", "/sync", params={"since": "garbage"})
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


async def test_bad_filter_is_rejected(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request("GET", "/sync", params={"filter": "{not json"})
    assert (status, data["errcode"]) == (400, "M_BAD_JSON")
    status, data = await alice.request(
        "GET", "/sync", params={"filter": json.dumps({"room": {"timeline": {"limit": "x"}}})}
    )
    assert (status, data["errcode"]) == (400, "M_BAD_JSON")
    status, data = await alice.request("GET", "/sync", params={"filter": "12345"})
    assert (status, data["errcode"]) == (400, "M_BAD_JSON")


async def test_transaction_id_echoed_to_sending_device(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await alice.ok("PUT", f"/rooms/{room_id}/send/m.room.message/my-txn", {"body": "x"})
    data = await sync(alice)
    events = data["rooms"]["join"][room_id]["timeline"]["events"]
    assert events[-1]["unsigned"]["transaction_id"] == "my-txn"
