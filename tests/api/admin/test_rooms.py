"""The admin room API: list, details, members, state, messages, block,
make_room_admin, extremities, timestamps, delete and purge."""

from __future__ import annotations

from tests.api.admin.admin_helpers import A1, A2, Client, new_admin
from tests.api.rooms_helpers import new_user


async def test_list_rooms_search_order_and_page(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    alpha = await bob.create_room(name="Alpha")
    beta = await bob.create_room(name="Beta")
    data = await admin.ok("GET", f"{A1}/rooms?order_by=name")
    assert [r["room_id"] for r in data["rooms"]] == [alpha, beta]
    assert data["total_rooms"] == 2
    assert data["rooms"][0]["joined_members"] == 1
    desc = await admin.ok("GET", f"{A1}/rooms?order_by=name&dir=b&limit=1")
    assert [r["room_id"] for r in desc["rooms"]] == [beta]
    assert desc["next_batch"] == 1
    found = await admin.ok("GET", f"{A1}/rooms?search_term=alp")
    assert [r["room_id"] for r in found["rooms"]] == [alpha]
    status, data = await admin.request("GET", f"{A1}/rooms?order_by=nope")
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


async def test_room_details_members_state_messages(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_id = await bob.create_room(name="Room", topic="Talk")
    event_id = await bob.send(room_id, "hello")
    details = await admin.ok("GET", f"{A1}/rooms/{room_id}")
    assert (details["name"], details["topic"], details["creator"]) == ("Room", "Talk", bob.user_id)
    assert details["joined_local_members"] == 1
    members = await admin.ok("GET", f"{A1}/rooms/{room_id}/members")
    assert members == {"members": [bob.user_id], "total": 1}
    state = (await admin.ok("GET", f"{A1}/rooms/{room_id}/state"))["state"]
    assert "m.room.create" in {e["type"] for e in state}
    messages = await admin.ok("GET", f"{A1}/rooms/{room_id}/messages?dir=b&limit=1")
    assert messages["chunk"][0]["event_id"] == event_id
    older = await admin.ok(
        "GET", f"{A1}/rooms/{room_id}/messages?dir=b&limit=1&from={messages['end']}"
    )
    assert older["chunk"][0]["event_id"] != event_id
    status, data = await admin.request("GET", f"{A1}/rooms/!missing:test.local")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")


async def test_block_and_unblock(client: Client) -> None:
    admin = await new_admin(client)
    path = f"{A1}/rooms/!any:test.local/block"
    assert await admin.ok("GET", path) == {"block": False}
    await admin.ok("PUT", path, {"block": True})
    assert await admin.ok("GET", path) == {"block": True, "user_id": admin.user_id}
    await admin.ok("PUT", path, {"block": False})
    assert await admin.ok("GET", path) == {"block": False}


async def test_make_room_admin_grants_power(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await bob.create_room(preset="public_chat")
    await carol.join(room_id)
    await admin.ok("POST", f"{A1}/rooms/{room_id}/make_room_admin", {"user_id": carol.user_id})
    levels = await bob.ok("GET", f"/rooms/{room_id}/state/m.room.power_levels/")
    assert levels["users"][carol.user_id] == 100


async def test_forward_extremities_and_timestamp_to_event(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_id = await bob.create_room()
    event_id = await bob.send(room_id)
    data = await admin.ok("GET", f"{A1}/rooms/{room_id}/forward_extremities")
    assert data["count"] == 1
    assert data["results"][0]["event_id"] == event_id
    found = await admin.ok("GET", f"{A1}/rooms/{room_id}/timestamp_to_event?ts=9999999999999&dir=b")
    assert found["event_id"] == event_id
    status, _ = await admin.request("GET", f"{A1}/rooms/{room_id}/timestamp_to_event")
    assert status == 400


async def test_delete_room_v2_kicks_blocks_purges(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_id = await bob.create_room()
    await bob.send(room_id)
    data = await admin.ok(
        "DELETE",
        f"{A2}/rooms/{room_id}",
        {"block": True, "purge": True, "new_room_user_id": admin.user_id, "message": "moved"},
    )
    status = await admin.ok("GET", f"{A2}/rooms/delete_status/{data['delete_id']}")
    assert status["status"] == "complete"
    assert status["shutdown_room"]["kicked_users"] == [bob.user_id]
    new_room = status["shutdown_room"]["new_room_id"]
    assert (await admin.ok("GET", f"{A1}/users/{bob.user_id}/joined_rooms"))["joined_rooms"] == [
        new_room
    ]
    by_room = await admin.ok("GET", f"{A2}/rooms/{room_id}/delete_status")
    assert by_room["results"][0]["delete_id"] == data["delete_id"]
    assert (await admin.ok("GET", f"{A1}/rooms/{room_id}/block"))["block"] is True
    err, body = await admin.request("GET", f"{A1}/rooms/{room_id}")
    assert (err, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_delete_room_v1_without_purge_keeps_rows(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_id = await bob.create_room()
    result = await admin.ok("DELETE", f"{A1}/rooms/{room_id}", {"purge": False})
    assert result["kicked_users"] == [bob.user_id]
    assert (await admin.ok("GET", f"{A1}/rooms/{room_id}/members"))["total"] == 0


async def test_purge_history_and_status(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_id = await bob.create_room()
    old = await bob.send(room_id, "old")
    keep = await bob.send(room_id, "keep")
    data = await admin.ok("POST", f"{A1}/purge_history/{room_id}", {"purge_up_to_event_id": keep})
    assert await admin.ok("GET", f"{A1}/purge_history_status/{data['purge_id']}") == {
        "status": "complete"
    }
    ids = [
        e["event_id"]
        for e in (await admin.ok("GET", f"{A1}/rooms/{room_id}/messages?dir=b&limit=50"))["chunk"]
    ]
    assert keep in ids
    assert old not in ids
    status, _ = await admin.request("GET", f"{A1}/purge_history_status/unknown")
    assert status == 404
