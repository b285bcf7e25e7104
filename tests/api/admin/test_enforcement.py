"""What the admin flags do to the flagged user: locked, suspended and
shadow-banned accounts, rate limit overrides and blocked rooms."""

from __future__ import annotations

import itertools
from typing import Any

from tests.api.admin.admin_helpers import A1, Client, new_admin
from tests.api.rooms_helpers import new_user

CLIENT_V1 = "/_matrix/client/v1"
_txns = itertools.count()


async def test_locked_account_gets_user_locked_except_logout(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    await admin.ok("PUT", f"{CLIENT_V1}/admin/lock/{bob.user_id}", {"locked": True})
    for method, path in (("GET", "/account/whoami"), ("GET", "/sync"), ("POST", "/createRoom")):
        status, data = await bob.request(method, path, {} if method == "POST" else None)
        assert status == 401, path
        assert data["errcode"] == "M_USER_LOCKED"
        assert data["soft_logout"] is True
    status, _ = await bob.request("POST", "/logout", {})
    assert status == 200


async def test_unlocked_account_works_again(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    path = f"{CLIENT_V1}/admin/lock/{bob.user_id}"
    await admin.ok("PUT", path, {"locked": True})
    await admin.ok("PUT", path, {"locked": False})
    assert (await bob.ok("GET", "/account/whoami"))["user_id"] == bob.user_id


async def test_locked_account_may_log_out_everywhere(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    await admin.ok("PUT", f"{CLIENT_V1}/admin/lock/{bob.user_id}", {"locked": True})
    status, _ = await bob.request("POST", "/logout/all", {})
    assert status == 200
    status, data = await bob.request("GET", "/account/whoami")
    assert status == 401
    assert data["errcode"] == "M_UNKNOWN_TOKEN"


async def _suspended_member(client: Client) -> tuple[Any, Any, str]:
    admin = await new_admin(client)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    own = await bob.send(room_id, "before")
    await admin.ok("PUT", f"{CLIENT_V1}/admin/suspend/{bob.user_id}", {"suspended": True})
    return alice, bob, room_id + "|" + own


async def test_suspended_account_cannot_act(client: Client) -> None:
    alice, bob, ids = await _suspended_member(client)
    room_id = ids.split("|")[0]
    other_room = await alice.create_room(preset="public_chat")
    refused = [
        ("PUT", f"/rooms/{room_id}/send/m.room.message/s1", {"msgtype": "m.text", "body": "x"}),
        ("PUT", f"/rooms/{room_id}/state/m.room.topic/", {"topic": "x"}),
        ("POST", "/createRoom", {}),
        ("POST", f"/join/{other_room}", {}),
        ("POST", f"/rooms/{room_id}/invite", {"user_id": alice.user_id}),
        ("PUT", f"/profile/{bob.user_id}/displayname", {"displayname": "B"}),
    ]
    for method, path, body in refused:
        status, data = await bob.request(method, path, body)
        assert status == 403, path
        assert data["errcode"] == "M_USER_SUSPENDED", path
    resp = await client.post(
        "/_matrix/media/v3/upload", data=b"x", headers={**bob.headers, "Content-Type": "text/plain"}
    )
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_USER_SUSPENDED"


async def test_suspended_account_reads_redacts_own_and_leaves(client: Client) -> None:
    alice, bob, ids = await _suspended_member(client)
    room_id, own = ids.split("|")
    alices = await alice.send(room_id, "hers")
    await bob.ok("GET", f"/rooms/{room_id}/messages?dir=b")
    await bob.ok("GET", "/sync")
    await bob.ok("POST", f"/rooms/{room_id}/receipt/m.read/{alices}", {})
    status, data = await bob.request("PUT", f"/rooms/{room_id}/redact/{alices}/r1", {})
    assert status == 403
    assert data["errcode"] == "M_USER_SUSPENDED"
    await bob.ok("PUT", f"/rooms/{room_id}/redact/{own}/r2", {})
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    assert (await bob.ok("GET", "/joined_rooms"))["joined_rooms"] == []


async def test_unsuspended_account_sends_again(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    path = f"{CLIENT_V1}/admin/suspend/{bob.user_id}"
    await admin.ok("PUT", path, {"suspended": True})
    await admin.ok("PUT", path, {"suspended": False})
    assert (await bob.create_room()).startswith("!")


async def test_shadow_banned_events_are_never_delivered(client: Client) -> None:
    admin = await new_admin(client)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await admin.ok("POST", f"{A1}/users/{bob.user_id}/shadow_ban", {})
    fake = await bob.send(room_id, "spam")
    assert fake.startswith("$")
    status, _ = await bob.put_state(room_id, "m.room.topic", {"topic": "spam"})
    assert status == 200
    await bob.ok("POST", f"/rooms/{room_id}/invite", {"user_id": carol.user_id})
    messages = await alice.ok("GET", f"/rooms/{room_id}/messages?dir=b&limit=50")
    bodies = [e["content"].get("body") for e in messages["chunk"]]
    assert "spam" not in bodies
    assert all(e["event_id"] != fake for e in messages["chunk"])
    status, _ = await alice.request("GET", f"/rooms/{room_id}/event/{fake}")
    assert status == 404
    topic_status, _ = await alice.request("GET", f"/rooms/{room_id}/state/m.room.topic/")
    assert topic_status == 404
    invites = (await carol.ok("GET", "/sync"))["rooms"].get("invite", {})
    assert room_id not in invites


async def test_unshadow_banned_events_are_delivered(client: Client) -> None:
    admin = await new_admin(client)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await admin.ok("POST", f"{A1}/users/{bob.user_id}/shadow_ban", {})
    await admin.ok("DELETE", f"{A1}/users/{bob.user_id}/shadow_ban")
    event_id = await bob.send(room_id, "hello")
    await alice.ok("GET", f"/rooms/{room_id}/event/{event_id}")


_LIMITED = {"enabled": True, "message": {"per_second": 0.001, "burst": 2}}


async def _sends_until_limited(user: Any, room_id: str, most: int = 10) -> int:
    """How many messages go through before the first 429 (``most`` if none)."""
    for sent in range(most):
        status, data = await user.request(
            "PUT", f"/rooms/{room_id}/send/m.room.message/n{next(_txns)}", {"body": "x"}
        )
        if status == 429:
            assert data["errcode"] == "M_LIMIT_EXCEEDED"
            return sent
    return most


async def test_ratelimit_override_zero_lifts_limit(client_for: Any) -> None:
    client = await client_for(rate_limits=_LIMITED)
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_id = await bob.create_room()
    assert await _sends_until_limited(bob, room_id) < 3
    await admin.ok("POST", f"{A1}/users/{bob.user_id}/override_ratelimit", {})
    assert await _sends_until_limited(bob, room_id) == 10
    await admin.ok("DELETE", f"{A1}/users/{bob.user_id}/override_ratelimit")
    assert await _sends_until_limited(bob, room_id) <= 3


async def test_ratelimit_override_tighter_limit_applies(client_for: Any) -> None:
    client = await client_for(rate_limits=_LIMITED)
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_id = await bob.create_room()
    await admin.ok(
        "POST",
        f"{A1}/users/{bob.user_id}/override_ratelimit",
        {"messages_per_second": 1, "burst_count": 1},
    )
    assert await _sends_until_limited(bob, room_id) == 1


async def test_ratelimit_override_loaded_at_startup(client_for: Any) -> None:
    first = await client_for(rate_limits=_LIMITED)
    admin = await new_admin(first)
    bob = await new_user(first, "bob")
    await admin.ok("POST", f"{A1}/users/{bob.user_id}/override_ratelimit", {})
    second = await client_for(rate_limits=_LIMITED)
    bob.client = second
    room_id = await bob.create_room()
    assert await _sends_until_limited(bob, room_id) == 10


async def test_blocked_room_refuses_join_and_invite(client: Client) -> None:
    admin = await new_admin(client)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await admin.ok("PUT", f"{A1}/rooms/{room_id}/block", {"block": True})
    for user, path, body in (
        (bob, f"/join/{room_id}", {}),
        (bob, f"/rooms/{room_id}/join", {}),
        (alice, f"/rooms/{room_id}/invite", {"user_id": bob.user_id}),
    ):
        status, data = await user.request("POST", path, body)
        assert status == 403, path
        assert data["errcode"] == "M_FORBIDDEN"
        assert data["error"] == "This room has been blocked on this server"
    await admin.ok("PUT", f"{A1}/rooms/{room_id}/block", {"block": False})
    await bob.join(room_id)
