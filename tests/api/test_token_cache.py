"""Cached token lookups never outlive a change to the token or its account."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import auth_header, register_user, services_of

Client = TestClient[Any, Any]


async def whoami(client: Client, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = await client.get(
        "/_matrix/client/v3/account/whoami", headers=auth_header(data["access_token"])
    )
    return resp.status, await resp.json()


async def test_logout_ends_a_cached_token_at_once(client: Client) -> None:
    data = await register_user(client, "cached")
    for _ in range(3):  # cached after the first
        assert (await whoami(client, data))[0] == 200
    resp = await client.post("/_matrix/client/v3/logout", headers=auth_header(data["access_token"]))
    assert resp.status == 200
    status, body = await whoami(client, data)
    assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN")


async def test_lock_and_admin_flag_apply_to_a_cached_token(client: Client) -> None:
    data = await register_user(client, "flagged")
    assert (await whoami(client, data))[0] == 200
    admin = services_of(client).admin.users
    await admin.set_admin(data["user_id"], True)
    resp = await client.get(
        f"/_synapse/admin/v2/users/{data['user_id']}", headers=auth_header(data["access_token"])
    )
    assert resp.status == 200
    await admin.set_flag(data["user_id"], "locked", True)
    status, body = await whoami(client, data)
    assert (status, body["errcode"]) == (401, "M_USER_LOCKED")


async def test_deleting_the_device_ends_its_cached_token(client: Client) -> None:
    data = await register_user(client, "device")
    assert (await whoami(client, data))[0] == 200
    await services_of(client).devices.delete_devices(data["user_id"], [data["device_id"]])
    status, body = await whoami(client, data)
    assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN")
