"""GET/POST /login, /refresh, /logout, /logout/all, /account/whoami."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from homeserver.services.clock import FakeClock
from tests.api.helpers import LOGIN, auth_header, login, register_user, services_of

Client = TestClient[Any, Any]
WHOAMI = "/_matrix/client/v3/account/whoami"
REFRESH = "/_matrix/client/v3/refresh"


async def _whoami(client: Client, token: str) -> tuple[int, dict[str, Any]]:
    resp = await client.get(WHOAMI, headers=auth_header(token))
    body: dict[str, Any] = await resp.json()
    return resp.status, body


async def test_get_login_lists_password_token_and_appservice(client: Client) -> None:
    resp = await client.get(LOGIN)
    types = [f["type"] for f in (await resp.json())["flows"]]
    assert types == ["m.login.password", "m.login.token", "m.login.application_service"]


async def test_login_with_localpart_identifier(client: Client) -> None:
    await register_user(client, "alice")
    data = await login(client, "alice")
    assert data["user_id"] == "@alice:test.local"
    assert data["access_token"].startswith("hsa_")
    assert (await _whoami(client, data["access_token"]))[1]["device_id"] == data["device_id"]


async def test_login_with_full_user_id(client: Client) -> None:
    await register_user(client, "alice")
    data = await login(client, "@alice:test.local")
    assert data["user_id"] == "@alice:test.local"


async def test_login_with_legacy_user_field(client: Client) -> None:
    await register_user(client, "alice")
    resp = await client.post(
        LOGIN, json={"type": "m.login.password", "user": "alice", "password": "password-123"}
    )
    assert resp.status == 200


async def test_login_wrong_password_is_forbidden(client: Client) -> None:
    await register_user(client, "alice")
    resp = await client.post(
        LOGIN, json={"type": "m.login.password", "user": "alice", "password": "wrong-one"}
    )
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


async def test_login_unknown_or_remote_user_is_forbidden(client: Client) -> None:
    for user in ("nobody", "@alice:elsewhere.example", "@:"):
        resp = await client.post(
            LOGIN, json={"type": "m.login.password", "user": user, "password": "password-123"}
        )
        assert resp.status == 403, user
        assert (await resp.json())["errcode"] == "M_FORBIDDEN"


async def test_login_missing_password_is_missing_param(client: Client) -> None:
    resp = await client.post(LOGIN, json={"type": "m.login.password", "user": "alice"})
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_MISSING_PARAM"


async def test_login_unknown_type_is_rejected(client: Client) -> None:
    resp = await client.post(LOGIN, json={"type": "m.login.magic"})
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_UNKNOWN"


async def test_login_reusing_device_id_revokes_old_token(client: Client) -> None:
    await register_user(client, "alice")
    first = await login(client, "alice", device_id="LAPTOP")
    second = await login(client, "alice", device_id="LAPTOP")
    assert second["device_id"] == "LAPTOP"
    assert (await _whoami(client, first["access_token"]))[0] == 401
    assert (await _whoami(client, second["access_token"]))[0] == 200


async def test_login_token_works_once(client: Client) -> None:
    await register_user(client, "alice")
    token = await services_of(client).tokens.create_login_token("@alice:test.local")
    first = await client.post(LOGIN, json={"type": "m.login.token", "token": token})
    assert first.status == 200
    assert (await first.json())["user_id"] == "@alice:test.local"
    second = await client.post(LOGIN, json={"type": "m.login.token", "token": token})
    assert second.status == 403


async def test_logout_revokes_token_and_deletes_device(client: Client) -> None:
    alice = await register_user(client, "alice")
    other = await login(client, "alice")
    resp = await client.post(
        "/_matrix/client/v3/logout", headers=auth_header(other["access_token"])
    )
    assert resp.status == 200
    status, body = await _whoami(client, other["access_token"])
    assert status == 401
    assert body["errcode"] == "M_UNKNOWN_TOKEN"
    devices = await client.get(
        "/_matrix/client/v3/devices", headers=auth_header(alice["access_token"])
    )
    ids = [d["device_id"] for d in (await devices.json())["devices"]]
    assert ids == [alice["device_id"]]


async def test_logout_all_revokes_every_token(client: Client) -> None:
    alice = await register_user(client, "alice")
    other = await login(client, "alice")
    resp = await client.post(
        "/_matrix/client/v3/logout/all", headers=auth_header(alice["access_token"])
    )
    assert resp.status == 200
    assert (await _whoami(client, alice["access_token"]))[0] == 401
    assert (await _whoami(client, other["access_token"]))[0] == 401


async def test_unknown_token_is_unknown_token(client: Client) -> None:
    status, body = await _whoami(client, "hsa_not_a_real_token_at_all_xxxxxx")
    assert status == 401
    assert body["errcode"] == "M_UNKNOWN_TOKEN"
    assert body["soft_logout"] is False


async def test_missing_token_is_missing_token(client: Client) -> None:
    resp = await client.get(WHOAMI)
    assert resp.status == 401
    assert (await resp.json())["errcode"] == "M_MISSING_TOKEN"


async def test_expired_access_token_is_soft_logout(client_for: Any) -> None:
    clock = FakeClock()
    client = await client_for(clock=clock, auth={"access_token_lifetime_ms": 60_000})
    await register_user(client, "alice")
    data = await login(client, "alice", refresh_token=True)
    assert data["expires_in_ms"] == 60_000
    clock.advance(61)
    status, body = await _whoami(client, data["access_token"])
    assert status == 401
    assert body["errcode"] == "M_UNKNOWN_TOKEN"
    assert body["soft_logout"] is True


async def test_refresh_rotates_and_revokes_old_refresh_token_on_use(client_for: Any) -> None:
    clock = FakeClock()
    client = await client_for(clock=clock, auth={"access_token_lifetime_ms": 60_000})
    await register_user(client, "alice")
    data = await login(client, "alice", refresh_token=True)
    old_refresh = data["refresh_token"]
    clock.advance(61)

    first = await client.post(REFRESH, json={"refresh_token": old_refresh})
    assert first.status == 200
    new = await first.json()
    assert new["refresh_token"] != old_refresh
    assert new["expires_in_ms"] == 60_000
    # Until the new tokens are used, the old refresh token still works.
    again = await client.post(REFRESH, json={"refresh_token": old_refresh})
    assert again.status == 200
    newer = await again.json()
    # The replaced (never used) successor is gone.
    assert (await _whoami(client, new["access_token"]))[0] == 401
    assert (await _whoami(client, newer["access_token"]))[0] == 200
    stale = await client.post(REFRESH, json={"refresh_token": old_refresh})
    assert stale.status == 401
    assert (await stale.json())["errcode"] == "M_UNKNOWN_TOKEN"
    chained = await client.post(REFRESH, json={"refresh_token": newer["refresh_token"]})
    assert chained.status == 200


async def test_refresh_unknown_token_is_unknown_token(client: Client) -> None:
    resp = await client.post(REFRESH, json={"refresh_token": "hsr_nope"})
    assert resp.status == 401
    assert (await resp.json())["errcode"] == "M_UNKNOWN_TOKEN"


async def test_refresh_missing_token_is_missing_param(client: Client) -> None:
    resp = await client.post(REFRESH, json={})
    assert (await resp.json())["errcode"] == "M_MISSING_PARAM"


async def test_login_is_rate_limited(client_for: Any) -> None:
    client = await client_for(
        rate_limits={"enabled": True, "login": {"per_second": 0.01, "burst": 2}}
    )
    body = {"type": "m.login.password", "user": "nobody", "password": "password-123"}
    statuses = [(await client.post(LOGIN, json=body)).status for _ in range(3)]
    assert statuses == [403, 403, 429]


async def test_admins_from_config_are_admin(client_for: Any) -> None:
    client = await client_for(admins=["@boss:test.local"])
    boss = await register_user(client, "boss")
    alice = await register_user(client, "alice")
    tokens = services_of(client).tokens
    assert (await tokens.requester_for_token(boss["access_token"])).is_admin is True
    assert (await tokens.requester_for_token(alice["access_token"])).is_admin is False


async def test_secrets_never_logged(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = "correct-horse-battery-staple"
    reg = await register_user(client, "alice", password)
    data = await login(client, "alice", password, refresh_token=True)
    await _whoami(client, data["access_token"])
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "Registered @alice:test.local" in logged
    for secret in (password, reg["access_token"], data["access_token"], data["refresh_token"]):
        assert secret not in logged
