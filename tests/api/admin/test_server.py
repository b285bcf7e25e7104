"""Admin API: registration tokens, event reports, server notices, background updates."""

from __future__ import annotations

from typing import Any

from tests.api.admin.admin_helpers import A1, Client, new_admin
from tests.api.rooms_helpers import User, new_user

JsonDict = dict[str, Any]


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


async def _notice_invite(bob: User) -> tuple[str, JsonDict]:
    invited = (await bob.ok("GET", "/sync"))["rooms"]["invite"]
    assert len(invited) == 1
    room_id = next(iter(invited))
    return room_id, invited[room_id]


async def test_server_notice_comes_from_server_user(client: Client) -> None:
    """Synapse's system localpart (``_server``) sends the invite and the notice;
    the room is tagged m.server_notice, and nobody may register that user."""
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    body = {"user_id": bob.user_id, "content": {"msgtype": "m.text", "body": "hello"}}
    await admin.ok("POST", f"{A1}/send_server_notice", body)
    room_id, invite = await _notice_invite(bob)
    senders = {e["sender"] for e in invite["invite_state"]["events"]}
    assert senders == {"@_server:test.local"}
    await bob.join(room_id)
    messages = await bob.ok("GET", f"/rooms/{room_id}/messages?dir=b&limit=5")
    notice = [e for e in messages["chunk"] if e["content"].get("body") == "hello"]
    assert notice[0]["sender"] == "@_server:test.local"
    tags = await bob.ok("GET", f"/user/{bob.user_id}/rooms/{room_id}/tags")
    assert tags == {"tags": {"m.server_notice": {}}}
    status, data = await bob.request("GET", "/register/available?username=_server")
    assert (status, data["errcode"]) == (400, "M_USER_IN_USE")


async def test_server_notice_localpart_is_configurable(client_for: Any) -> None:
    client = await client_for(
        server_notices={"system_mxid_localpart": "notices", "room_name": "Alerts"}
    )
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    body = {"user_id": bob.user_id, "content": {"msgtype": "m.text", "body": "hello"}}
    await admin.ok("POST", f"{A1}/send_server_notice", body)
    _, invite = await _notice_invite(bob)
    events = invite["invite_state"]["events"]
    assert {e["sender"] for e in events} == {"@notices:test.local"}


async def test_server_notice_txn_is_idempotent(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    body = {"user_id": bob.user_id, "content": {"msgtype": "m.text", "body": "once"}}
    first = await admin.ok("PUT", f"{A1}/send_server_notice/txn1", body)
    again = await admin.ok("PUT", f"{A1}/send_server_notice/txn1", body)
    other = await admin.ok("PUT", f"{A1}/send_server_notice/txn2", body)
    assert first["event_id"] == again["event_id"] != other["event_id"]
    room_id, _ = await _notice_invite(bob)
    await bob.join(room_id)
    messages = await bob.ok("GET", f"/rooms/{room_id}/messages?dir=b&limit=20")
    bodies = [e["content"].get("body") for e in messages["chunk"]]
    assert bodies.count("once") == 2


async def test_server_notice_invite_cannot_be_rejected(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    body = {"user_id": bob.user_id, "content": {"msgtype": "m.text", "body": "hi"}}
    await admin.ok("POST", f"{A1}/send_server_notice", body)
    room_id, _ = await _notice_invite(bob)
    status, data = await bob.request("POST", f"/rooms/{room_id}/leave", {})
    assert (status, data["errcode"]) == (403, "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM")
    # Once joined, leaving is allowed; the next notice invites back to the same room.
    await bob.join(room_id)
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    await admin.ok("POST", f"{A1}/send_server_notice", body)
    again, _ = await _notice_invite(bob)
    assert again == room_id


async def test_background_updates_status(client: Client) -> None:
    admin = await new_admin(client)
    assert await admin.ok("GET", f"{A1}/background_updates/status") == {
        "enabled": False,
        "current_updates": {},
    }
    assert await admin.ok("POST", f"{A1}/background_updates/enabled", {"enabled": True}) == {
        "enabled": False
    }
