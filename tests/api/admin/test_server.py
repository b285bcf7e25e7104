"""Admin API: registration tokens, event reports, server notices, background updates."""

from __future__ import annotations

from tests.api.admin.admin_helpers import A1, Client, new_admin
from tests.api.rooms_helpers import new_user


async def test_registration_tokens_crud(client: Client) -> None:
    admin = await new_admin(client)
    base = f"{A1}/registration_tokens"
    made = await admin.ok("POST", f"{base}/new", {"token": "abc", "uses_allowed": 2})
    assert made == {
        "token": "abc",
        "uses_allowed": 2,
        "pending": 0,
        "completed": 0,
        "expiry_time": None,
    }
    random = await admin.ok("POST", f"{base}/new", {"length": 10})
    assert len(random["token"]) == 10
    listed = await admin.ok("GET", base)
    assert {t["token"] for t in listed["registration_tokens"]} == {"abc", random["token"]}
    assert (await admin.ok("PUT", f"{base}/abc", {"uses_allowed": 0}))["uses_allowed"] == 0
    assert [
        t["token"] for t in (await admin.ok("GET", f"{base}?valid=false"))["registration_tokens"]
    ] == ["abc"]
    await admin.ok("DELETE", f"{base}/abc")
    status, data = await admin.request("GET", f"{base}/abc")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")
    status, data = await admin.request("POST", f"{base}/new", {"token": random["token"]})
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


async def test_event_reports_list_get_delete(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_id = await bob.create_room(name="Reported")
    event_id = await bob.send(room_id)
    await bob.ok("POST", f"/rooms/{room_id}/report/{event_id}", {"reason": "spam"})
    listed = await admin.ok("GET", f"{A1}/event_reports")
    assert listed["total"] == 1
    report = listed["event_reports"][0]
    assert (report["event_id"], report["reason"], report["name"]) == (event_id, "spam", "Reported")
    detail = await admin.ok("GET", f"{A1}/event_reports/{report['id']}")
    assert detail["event_json"]["event_id"] == event_id
    await admin.ok("DELETE", f"{A1}/event_reports/{report['id']}")
    status, _ = await admin.request("GET", f"{A1}/event_reports/{report['id']}")
    assert status == 404
    status, _ = await admin.request("GET", f"{A1}/event_reports/nope")
    assert status == 400


async def test_server_notice_reaches_user(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    body = {"user_id": bob.user_id, "content": {"msgtype": "m.text", "body": "maintenance"}}
    first = await admin.ok("POST", f"{A1}/send_server_notice", body)
    second = await admin.ok("PUT", f"{A1}/send_server_notice/t1", body)
    assert first["event_id"] != second["event_id"]
    sync = await bob.ok("GET", "/sync")
    invited = sync["rooms"]["invite"]
    assert len(invited) == 1
    room_id = next(iter(invited))
    await bob.join(room_id)
    messages = await bob.ok("GET", f"/rooms/{room_id}/messages?dir=b&limit=5")
    assert "maintenance" in [e["content"].get("body") for e in messages["chunk"]]
    status, data = await admin.request(
        "POST", f"{A1}/send_server_notice", {**body, "user_id": "@x:other.org"}
    )
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


async def test_background_updates_status(client: Client) -> None:
    admin = await new_admin(client)
    assert await admin.ok("GET", f"{A1}/background_updates/status") == {
        "enabled": False,
        "current_updates": {},
    }
    assert await admin.ok("POST", f"{A1}/background_updates/enabled", {"enabled": True}) == {
        "enabled": False
    }
