"""The v3 account list, per-user activity counts, user reports and the
(empty) federation destinations."""

from __future__ import annotations

from tests.api.admin.admin_helpers import A1, Client, new_admin
from tests.api.helpers import services_of
from tests.api.rooms_helpers import new_user

A3 = "/_synapse/admin/v3"


async def test_v3_users_deactivated_is_three_way(client: Client) -> None:
    admin = await new_admin(client)
    await new_user(client, "alive")
    await new_user(client, "gone")
    await admin.ok("POST", f"{A1}/deactivate/@gone:test.local", {})

    async def names(query: str) -> list[str]:
        data = await admin.ok("GET", f"{A3}/users{query}")
        return [u["name"] for u in data["users"]]

    assert "@gone:test.local" in await names("")
    assert await names("?deactivated=true") == ["@gone:test.local"]
    active = await names("?deactivated=false")
    assert "@gone:test.local" not in active
    assert "@alive:test.local" in active
    status, data = await admin.request("GET", f"{A3}/users?deactivated=maybe")
    assert status == 400
    assert data["errcode"] == "M_INVALID_PARAM"


async def test_sent_invite_and_joined_room_counts(client: Client) -> None:
    admin = await new_admin(client)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    first = await alice.create_room()
    second = await alice.create_room()
    await alice.invite(first, bob)
    await alice.invite(first, carol)
    await alice.ok("POST", f"/rooms/{second}/leave", {})
    invites = await admin.ok("GET", f"{A1}/users/{alice.user_id}/sent_invite_count")
    assert invites == {"invite_count": 2}
    later = await admin.ok("GET", f"{A1}/users/{alice.user_id}/sent_invite_count?from_ts={2**52}")
    assert later == {"invite_count": 0}
    joined = await admin.ok("GET", f"{A1}/users/{alice.user_id}/cumulative_joined_room_count")
    assert joined == {"cumulative_joined_room_count": 2}
    none = await admin.ok("GET", f"{A1}/users/{bob.user_id}/cumulative_joined_room_count")
    assert none == {"cumulative_joined_room_count": 0}


async def test_user_reports_listed_newest_first(client: Client) -> None:
    admin = await new_admin(client)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    await alice.ok("POST", f"/users/{bob.user_id}/report", {"reason": "one"})
    await alice.ok("POST", f"/users/{bob.user_id}/report", {"reason": "two"})
    data = await admin.ok("GET", f"{A1}/user_reports?limit=1")
    assert data["total"] == 2
    assert [r["reason"] for r in data["user_reports"]] == ["two"]
    assert data["user_reports"][0]["target_user_id"] == bob.user_id
    assert data["next_token"] == 1
    rest = await admin.ok("GET", f"{A1}/user_reports?from=1")
    assert [r["reason"] for r in rest["user_reports"]] == ["one"]
    assert "next_token" not in rest


async def test_federation_destination_unknown(client: Client) -> None:
    admin = await new_admin(client)
    status, data = await admin.request("GET", f"{A1}/federation/destinations/other.example")
    assert status == 404
    assert data["errcode"] == "M_NOT_FOUND"


async def test_delete_forward_extremities_keeps_newest(client: Client) -> None:
    admin = await new_admin(client)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    older = await alice.send(room_id, "older")
    newest = await alice.send(room_id, "newest")
    path = f"{A1}/rooms/{room_id}/forward_extremities"
    assert await admin.ok("DELETE", path) == {"deleted": 0}
    svc = services_of(client)
    async with svc.db.write() as txn:
        await svc.rooms.state_store.set_forward_extremities(txn, room_id, [older, newest])
    svc.rooms.cache.drop_room(room_id)
    assert (await admin.ok("GET", path))["count"] == 2
    assert await admin.ok("DELETE", path) == {"deleted": 1}
    found = await admin.ok("GET", path)
    assert [e["event_id"] for e in found["results"]] == [newest]
    await alice.send(room_id, "after")
    status, data = await admin.request(
        "DELETE", f"{A1}/rooms/!unknown:test.local/forward_extremities"
    )
    assert status == 404
    assert data["errcode"] == "M_NOT_FOUND"


async def test_redact_user_events_and_status(client: Client) -> None:
    admin = await new_admin(client)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    spam = [await bob.send(room_id, f"spam {n}") for n in range(3)]
    kept = await alice.send(room_id, "mine")
    data = await admin.ok(
        "POST", f"{A1}/user/{bob.user_id}/redact", {"rooms": [room_id], "reason": "spam"}
    )
    status = await admin.ok("GET", f"{A1}/user/redact_status/{data['redact_id']}")
    assert status == {"status": "complete", "failed_redactions": {}}
    for event_id in spam:
        event = await alice.ok("GET", f"/rooms/{room_id}/event/{event_id}")
        assert event["content"] == {}
    assert (await alice.ok("GET", f"/rooms/{room_id}/event/{kept}"))["content"]["body"] == "mine"
    for body in ({}, {"rooms": "x"}, {"rooms": [room_id], "limit": 0}):
        code, err = await admin.request("POST", f"{A1}/user/{bob.user_id}/redact", body)
        assert code == 400, body
        assert err["errcode"] in ("M_BAD_JSON", "M_INVALID_PARAM")
    code, err = await admin.request("GET", f"{A1}/user/redact_status/nope")
    assert code == 404
    assert err["errcode"] == "M_NOT_FOUND"
