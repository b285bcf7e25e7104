"""What an admin web UI does: log in, list users, deactivate one, list
rooms, delete one; the room's rows are then gone from the database."""

from __future__ import annotations

from tests.api.admin.admin_helpers import A1, A2, Admin, Client
from tests.api.helpers import login, services_of
from tests.api.rooms_helpers import new_user


async def test_admin_ui_flow_deletes_room_rows(client: Client) -> None:
    await services_of(client).registration.register_user("root", "password-123", admin=True)
    session = await login(client, "root")
    admin = Admin(client, session["user_id"], session["access_token"])
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await bob.create_room(name="Doomed", preset="public_chat")
    await carol.join(room_id)
    await bob.send(room_id, "bye")

    users = await admin.ok("GET", f"{A2}/users?from=0&limit=10&guests=false")
    assert {u["name"] for u in users["users"]} == {admin.user_id, bob.user_id, carol.user_id}
    await admin.ok("POST", f"{A1}/deactivate/{carol.user_id}", {"erase": False})
    users = await admin.ok("GET", f"{A2}/users?from=0&limit=10&guests=false")
    assert carol.user_id not in {u["name"] for u in users["users"]}

    rooms = await admin.ok("GET", f"{A1}/rooms?from=0&limit=10&order_by=name")
    assert [r["room_id"] for r in rooms["rooms"]] == [room_id]
    deleted = await admin.ok("DELETE", f"{A2}/rooms/{room_id}", {"block": False, "purge": True})
    status = await admin.ok("GET", f"{A2}/rooms/delete_status/{deleted['delete_id']}")
    assert status["status"] == "complete"
    assert (await admin.ok("GET", f"{A1}/rooms"))["total_rooms"] == 0

    db = services_of(client).db
    async with db.read() as conn:
        for table in (
            "rooms",
            "events",
            "state_groups",
            "current_state_events",
            "room_memberships",
            "room_forward_extremities",
        ):
            count = await conn.fetchval(f"SELECT COUNT(*) FROM {table} WHERE room_id = $1", room_id)
            assert count == 0, table
