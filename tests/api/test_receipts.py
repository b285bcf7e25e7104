"""Receipts and read markers."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import User, new_user


async def _receipt_content(user: User, room_id: str) -> dict[str, Any]:
    data = await user.ok("GET", "/sync")
    for event in data["rooms"]["join"][room_id]["ephemeral"]["events"]:
        if event["type"] == "m.receipt":
            content: dict[str, Any] = event["content"]
            return content
    return {}


async def test_read_receipt_visible_to_room_with_thread(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    event_id = await alice.send(room_id)
    await bob.ok("POST", f"/rooms/{room_id}/receipt/m.read/{event_id}", {"thread_id": "main"})
    content = await _receipt_content(alice, room_id)
    entry = content[event_id]["m.read"][bob.user_id]
    assert entry["thread_id"] == "main"
    assert isinstance(entry["ts"], int)


async def test_private_receipt_only_seen_by_its_user(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    event_id = await alice.send(room_id)
    await bob.ok("POST", f"/rooms/{room_id}/receipt/m.read.private/{event_id}", {})
    assert await _receipt_content(alice, room_id) == {}
    mine = await _receipt_content(bob, room_id)
    assert bob.user_id in mine[event_id]["m.read.private"]


async def test_read_markers_set_fully_read_and_receipt(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    event_id = await alice.send(room_id)
    await alice.ok(
        "POST", f"/rooms/{room_id}/read_markers", {"m.fully_read": event_id, "m.read": event_id}
    )
    data = await alice.ok("GET", "/sync")
    room = data["rooms"]["join"][room_id]
    assert {"type": "m.fully_read", "content": {"event_id": event_id}} in room["account_data"][
        "events"
    ]
    receipts = [e for e in room["ephemeral"]["events"] if e["type"] == "m.receipt"]
    assert alice.user_id in receipts[0]["content"][event_id]["m.read"]


async def test_fully_read_receipt_sets_account_data(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    event_id = await alice.send(room_id)
    await alice.ok("POST", f"/rooms/{room_id}/receipt/m.fully_read/{event_id}", {})
    content = await alice.ok(
        "GET", f"/user/{alice.user_id}/rooms/{room_id}/account_data/m.fully_read"
    )
    assert content == {"event_id": event_id}


async def test_receipt_errors(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    event_id = await alice.send(room_id)
    status, data = await alice.request("POST", f"/rooms/{room_id}/receipt/m.bogus/{event_id}", {})
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")
    status, data = await bob.request("POST", f"/rooms/{room_id}/receipt/m.read/{event_id}", {})
    assert (status, data["errcode"]) == (403, "M_FORBIDDEN")
    status, data = await alice.request("POST", f"/rooms/{room_id}/receipt/m.read/$nope", {})
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")
    status, data = await alice.request(
        "POST", f"/rooms/{room_id}/receipt/m.fully_read/{event_id}", {"thread_id": "main"}
    )
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")
