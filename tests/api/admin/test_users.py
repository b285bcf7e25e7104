"""The admin user API: list, query, create/modify, deactivate, devices, flags."""

from __future__ import annotations

from typing import Any

from tests.api.admin.admin_helpers import A1, A2, Client, new_admin
from tests.api.helpers import auth_header, login, register_user, services_of
from tests.api.rooms_helpers import new_user


async def test_list_users_pages_filters_and_orders(client: Client) -> None:
    admin = await new_admin(client)
    for name in ("alice", "bob", "carol"):
        await register_user(client, name)
    data = await admin.ok("GET", f"{A2}/users?limit=2")
    assert data["total"] == 4
    assert [u["name"] for u in data["users"]] == ["@alice:test.local", "@bob:test.local"]
    assert data["next_token"] == "2"
    rest = await admin.ok("GET", f"{A2}/users?from=2&limit=2")
    assert [u["name"] for u in rest["users"]] == ["@carol:test.local", "@root:test.local"]
    assert "next_token" not in rest
    found = await admin.ok("GET", f"{A2}/users?name=CAR")
    assert [u["name"] for u in found["users"]] == ["@carol:test.local"]
    admins = await admin.ok("GET", f"{A2}/users?admins=true")
    assert [u["name"] for u in admins["users"]] == ["@root:test.local"]
    backwards = await admin.ok("GET", f"{A2}/users?order_by=name&dir=b&limit=1")
    assert backwards["users"][0]["name"] == "@root:test.local"


async def test_list_users_hides_deactivated_unless_asked(client: Client) -> None:
    admin = await new_admin(client)
    await register_user(client, "gone")
    await admin.ok("POST", f"{A1}/deactivate/@gone:test.local", {})
    names = [u["name"] for u in (await admin.ok("GET", f"{A2}/users"))["users"]]
    assert "@gone:test.local" not in names
    data = await admin.ok("GET", f"{A2}/users?deactivated=true")
    assert "@gone:test.local" in [u["name"] for u in data["users"]]


async def test_list_users_bad_params_rejected(client: Client) -> None:
    admin = await new_admin(client)
    for query in ("from=-1", "limit=x", "order_by=nope", "dir=up", "guests=maybe"):
        status, data = await admin.request("GET", f"{A2}/users?{query}")
        assert status == 400, query
        assert data["errcode"] == "M_INVALID_PARAM"


async def test_put_user_creates_then_modifies(client: Client) -> None:
    admin = await new_admin(client)
    path = f"{A2}/users/@new:test.local"
    created = await admin.ok(
        "PUT", path, {"password": "pw-12345678", "displayname": "New", "admin": False}, status=201
    )
    assert created["name"] == "@new:test.local"
    assert created["displayname"] == "New"
    await login(client, "new", "pw-12345678")
    changed = await admin.ok("PUT", path, {"admin": True, "displayname": "Renamed"})
    assert changed["admin"] is True
    assert changed["displayname"] == "Renamed"
    assert (await admin.ok("GET", path))["admin"] is True


async def test_get_user_unknown_or_remote(client: Client) -> None:
    admin = await new_admin(client)
    status, data = await admin.request("GET", f"{A2}/users/@nobody:test.local")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")
    status, data = await admin.request("GET", f"{A2}/users/@x:elsewhere.org")
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


async def test_deactivate_with_erase_blocks_login(client: Client) -> None:
    admin = await new_admin(client)
    await register_user(client, "eve")
    await admin.ok("POST", f"{A1}/deactivate/@eve:test.local", {"erase": True})
    user = await admin.ok("GET", f"{A2}/users/@eve:test.local")
    assert user["deactivated"] is True
    assert user["erased"] is True
    resp = await client.post(
        "/_matrix/client/v3/login",
        json={"type": "m.login.password", "user": "eve", "password": "password-123"},
    )
    assert resp.status == 403


async def test_reset_password_logs_out(client: Client) -> None:
    admin = await new_admin(client)
    bob = await register_user(client, "bob")
    await admin.ok("POST", f"{A1}/reset_password/@bob:test.local", {"new_password": "fresh-pw-1"})
    resp = await client.get(
        "/_matrix/client/v3/account/whoami", headers=auth_header(bob["access_token"])
    )
    assert resp.status == 401
    await login(client, "bob", "fresh-pw-1")


async def test_whois_admin_and_client_api(client: Client) -> None:
    admin = await new_admin(client)
    bob = await register_user(client, "bob")
    data = await admin.ok("GET", f"{A1}/whois/@bob:test.local")
    assert data["user_id"] == "@bob:test.local"
    assert bob["device_id"] in data["devices"]
    resp = await client.get(
        "/_matrix/client/v3/admin/whois/@bob:test.local", headers=auth_header(bob["access_token"])
    )
    assert resp.status == 200
    resp = await client.get(
        "/_matrix/client/v3/admin/whois/@root:test.local", headers=auth_header(bob["access_token"])
    )
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"
    assert (await admin.ok("GET", "/_matrix/client/v3/admin/whois/@bob:test.local"))["user_id"]


async def test_joined_rooms_lists_rooms(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_id = await bob.create_room()
    data = await admin.ok("GET", f"{A1}/users/@bob:test.local/joined_rooms")
    assert data == {"joined_rooms": [room_id], "total": 1}


async def test_devices_list_get_rename_delete(client: Client) -> None:
    admin = await new_admin(client)
    bob = await register_user(client, "bob")
    base = f"{A2}/users/@bob:test.local/devices"
    await admin.ok("POST", base, {"device_id": "EXTRA"}, status=201)
    listed = await admin.ok("GET", base)
    assert {d["device_id"] for d in listed["devices"]} == {bob["device_id"], "EXTRA"}
    await admin.ok("PUT", f"{base}/EXTRA", {"display_name": "Phone"})
    assert (await admin.ok("GET", f"{base}/EXTRA"))["display_name"] == "Phone"
    await admin.ok("DELETE", f"{base}/EXTRA")
    await admin.ok(
        "POST", f"{A2}/users/@bob:test.local/delete_devices", {"devices": [bob["device_id"]]}
    )
    assert (await admin.ok("GET", base))["total"] == 0
    status, data = await admin.request("GET", f"{base}/EXTRA")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")


async def test_admin_flag_get_put(client: Client) -> None:
    admin = await new_admin(client)
    await register_user(client, "bob")
    path = f"{A1}/users/@bob:test.local/admin"
    assert await admin.ok("GET", path) == {"admin": False}
    await admin.ok("PUT", path, {"admin": True})
    assert await admin.ok("GET", path) == {"admin": True}
    status, _ = await admin.request("PUT", f"{A1}/users/@root:test.local/admin", {"admin": False})
    assert status == 400


async def test_login_as_user_gives_working_token(client: Client) -> None:
    admin = await new_admin(client)
    await register_user(client, "bob")
    data = await admin.ok("POST", f"{A1}/users/@bob:test.local/login", {})
    resp = await client.get(
        "/_matrix/client/v3/account/whoami", headers=auth_header(data["access_token"])
    )
    assert (await resp.json())["user_id"] == "@bob:test.local"


async def test_shadow_ban_and_ratelimit_override(client: Client) -> None:
    admin = await new_admin(client)
    await register_user(client, "bob")
    base = f"{A1}/users/@bob:test.local"
    await admin.ok("POST", f"{base}/shadow_ban")
    assert (await admin.ok("GET", f"{A2}/users/@bob:test.local"))["shadow_banned"] is True
    await admin.ok("DELETE", f"{base}/shadow_ban")
    assert (await admin.ok("GET", f"{A2}/users/@bob:test.local"))["shadow_banned"] is False
    assert await admin.ok("GET", f"{base}/override_ratelimit") == {}
    set_to = {"messages_per_second": 5, "burst_count": 10}
    assert await admin.ok("POST", f"{base}/override_ratelimit", set_to) == set_to
    assert await admin.ok("GET", f"{base}/override_ratelimit") == set_to
    await admin.ok("DELETE", f"{base}/override_ratelimit")
    assert await admin.ok("GET", f"{base}/override_ratelimit") == {}
    status, _ = await admin.request("POST", f"{base}/override_ratelimit", {"burst_count": -1})
    assert status == 400


async def test_account_data_and_pushers(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    await bob.ok("PUT", "/user/@bob:test.local/account_data/org.example", {"a": 1})
    data = await admin.ok("GET", f"{A1}/users/@bob:test.local/accountdata")
    assert data["account_data"]["global"]["org.example"] == {"a": 1}
    assert await admin.ok("GET", f"{A1}/users/@bob:test.local/pushers") == {
        "pushers": [],
        "total": 0,
    }


async def test_lock_and_suspend_client_api(client: Client) -> None:
    admin = await new_admin(client)
    await register_user(client, "bob")
    for verb, flag in (("lock", "locked"), ("suspend", "suspended")):
        path = f"/_matrix/client/v1/admin/{verb}/@bob:test.local"
        assert await admin.ok("GET", path) == {flag: False}
        assert await admin.ok("PUT", path, {flag: True}) == {flag: True}
        assert await admin.ok("GET", path) == {flag: True}
        status, data = await admin.request(
            "PUT", f"/_matrix/client/v1/admin/{verb}/{admin.user_id}", {flag: True}
        )
        assert (status, data["errcode"]) == (403, "M_FORBIDDEN")
    user: Any = await admin.ok("GET", f"{A2}/users/@bob:test.local")
    assert (user["locked"], user["suspended"]) == (True, True)


async def test_server_version_and_username_available(client: Client) -> None:
    admin = await new_admin(client)
    assert isinstance((await admin.ok("GET", f"{A1}/server_version"))["server_version"], str)
    assert await admin.ok("GET", f"{A1}/username_available?username=free") == {"available": True}
    status, data = await admin.request("GET", f"{A1}/username_available?username=root")
    assert (status, data["errcode"]) == (400, "M_USER_IN_USE")
    assert services_of(client).admin.notices.system_user_id == "@_server:test.local"
