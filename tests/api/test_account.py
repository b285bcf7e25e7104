"""/account/password, /account/deactivate and the third-party identifier endpoints."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import LOGIN, auth_header, login, register_user

Client = TestClient[Any, Any]
PASSWORD = "/_matrix/client/v3/account/password"
DEACTIVATE = "/_matrix/client/v3/account/deactivate"
WHOAMI = "/_matrix/client/v3/account/whoami"

AUTH = {
    "type": "m.login.password",
    "identifier": {"type": "m.id.user", "user": "alice"},
    "password": "password-123",
}


async def _status(client: Client, token: str) -> int:
    return (await client.get(WHOAMI, headers=auth_header(token))).status


async def test_change_password_logs_out_other_devices(client: Client) -> None:
    alice = await register_user(client, "alice")
    other = await login(client, "alice")
    resp = await client.post(
        PASSWORD,
        headers=auth_header(alice["access_token"]),
        json={"new_password": "new-password-456", "auth": AUTH},
    )
    assert resp.status == 200
    assert await _status(client, alice["access_token"]) == 200
    assert await _status(client, other["access_token"]) == 401
    old = await client.post(
        LOGIN, json={"type": "m.login.password", "user": "alice", "password": "password-123"}
    )
    assert old.status == 403
    await login(client, "alice", "new-password-456")


async def test_change_password_keeps_devices_when_asked(client: Client) -> None:
    alice = await register_user(client, "alice")
    other = await login(client, "alice")
    resp = await client.post(
        PASSWORD,
        headers=auth_header(alice["access_token"]),
        json={"new_password": "new-password-456", "logout_devices": False, "auth": AUTH},
    )
    assert resp.status == 200
    assert await _status(client, other["access_token"]) == 200


async def test_change_password_without_auth_asks_for_password(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.post(
        PASSWORD, headers=auth_header(alice["access_token"]), json={"new_password": "x" * 10}
    )
    assert resp.status == 401
    assert (await resp.json())["flows"] == [{"stages": ["m.login.password"]}]


async def test_change_password_weak_is_weak_password(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.post(
        PASSWORD,
        headers=auth_header(alice["access_token"]),
        json={"new_password": "abc", "auth": AUTH},
    )
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_WEAK_PASSWORD"


async def test_deactivate_blocks_login_and_revokes_tokens(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.post(
        DEACTIVATE, headers=auth_header(alice["access_token"]), json={"auth": AUTH, "erase": True}
    )
    assert resp.status == 200
    assert (await resp.json())["id_server_unbind_result"] == "no-support"
    assert await _status(client, alice["access_token"]) == 401
    relogin = await client.post(
        LOGIN, json={"type": "m.login.password", "user": "alice", "password": "password-123"}
    )
    assert relogin.status == 403
    taken = await client.get("/_matrix/client/v3/register/available", params={"username": "alice"})
    assert (await taken.json())["errcode"] == "M_USER_IN_USE"


async def test_deactivate_without_auth_asks_for_password(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.post(DEACTIVATE, headers=auth_header(alice["access_token"]), json={})
    assert resp.status == 401
    assert await _status(client, alice["access_token"]) == 200


async def test_threepids_empty(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.get(
        "/_matrix/client/v3/account/3pid", headers=auth_header(alice["access_token"])
    )
    assert await resp.json() == {"threepids": []}


async def test_threepid_add_is_refused(client: Client) -> None:
    alice = await register_user(client, "alice")
    for path in ("/account/3pid/add", "/account/3pid/bind", "/account/3pid"):
        resp = await client.post(
            "/_matrix/client/v3" + path,
            headers=auth_header(alice["access_token"]),
            json={"sid": "x", "client_secret": "y"},
        )
        assert resp.status == 400, path
        assert (await resp.json())["errcode"] == "M_THREEPID_MEDIUM_NOT_SUPPORTED"


async def test_threepid_delete_of_unknown_succeeds(client: Client) -> None:
    alice = await register_user(client, "alice")
    for path in ("/account/3pid/delete", "/account/3pid/unbind"):
        resp = await client.post(
            "/_matrix/client/v3" + path,
            headers=auth_header(alice["access_token"]),
            json={"medium": "email", "address": "a@example.org"},
        )
        assert resp.status == 200, path
        assert await resp.json() == {"id_server_unbind_result": "no-support"}


async def test_threepid_delete_missing_address_is_missing_param(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.post(
        "/_matrix/client/v3/account/3pid/delete",
        headers=auth_header(alice["access_token"]),
        json={"medium": "email"},
    )
    assert (await resp.json())["errcode"] == "M_MISSING_PARAM"


async def test_request_token_endpoints_are_refused(client: Client) -> None:
    for prefix in ("register", "account/password", "account/3pid"):
        for medium in ("email", "msisdn"):
            resp = await client.post(
                f"/_matrix/client/v3/{prefix}/{medium}/requestToken",
                json={"client_secret": "s", "email": "a@example.org", "send_attempt": 1},
            )
            assert resp.status == 400
            assert (await resp.json())["errcode"] == "M_THREEPID_MEDIUM_NOT_SUPPORTED"
