"""Appservice registrations, as_token authentication, masquerading and
m.login.application_service registration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homeserver.config import ConfigError
from homeserver.services.appservice.registration import parse_registration
from tests.api.fake_bridge import AS_TOKEN, registration, write_registration
from tests.api.helpers import REGISTER, auth_header, register_user

WHOAMI = "/_matrix/client/v3/account/whoami"


async def _start(client_for: Any, tmp_path: Path, **reg: Any) -> Any:
    path = write_registration(tmp_path, registration(None, **reg))
    return await client_for(app_service_config_files=[path])


async def _as_register(client: Any, username: str, token: str = AS_TOKEN) -> Any:
    body = {"type": "m.login.application_service", "username": username}
    return await client.post(REGISTER, json=body, headers=auth_header(token))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"as_token": None}, "as_token"),
        ({"url": "ftp://x"}, "url"),
        ({"sender_localpart": "Bad Name"}, "sender_localpart"),
        ({"namespaces": {"users": [{"exclusive": True, "regex": "(["}]}}, "namespaces.users.0"),
        ({"namespaces": {"users": [{"exclusive": "yes", "regex": "@a"}]}}, "exclusive"),
        ({"rate_limited": "no"}, "rate_limited"),
    ],
)
def test_parse_registration_names_field_when_invalid(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_registration("reg.yaml", registration("http://127.0.0.1:1", **change))
    assert any(p.startswith("reg.yaml: ") and field in p for p in info.value.problems)


def test_parse_registration_reads_msc_flags_when_set() -> None:
    reg = parse_registration(
        "reg.yaml",
        registration(None, **{"org.matrix.msc3202": True, "io.element.msc4190": True}),
    )
    assert reg.msc3202
    assert reg.msc4190
    assert reg.url is None


async def test_app_refuses_to_start_when_registration_invalid(
    client_for: Any, tmp_path: Path
) -> None:
    path = write_registration(tmp_path, registration(None, hs_token=12))
    with pytest.raises(ConfigError) as info:
        await client_for(app_service_config_files=[path])
    assert "hs_token" in str(info.value)
    assert path in str(info.value)


async def test_app_refuses_to_start_when_ids_collide(client_for: Any, tmp_path: Path) -> None:
    a = write_registration(tmp_path, registration(None), "a.yaml")
    b = write_registration(tmp_path, registration(None, as_token="other"), "b.yaml")
    with pytest.raises(ConfigError) as info:
        await client_for(app_service_config_files=[a, b])
    assert "id:" in str(info.value)


async def test_as_token_acts_as_sender_when_no_user_id(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path)
    resp = await client.get(WHOAMI, headers=auth_header(AS_TOKEN))
    assert resp.status == 200
    assert (await resp.json())["user_id"] == "@bridgebot:test.local"


async def test_as_token_masquerades_when_user_in_namespace(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path)
    assert (await _as_register(client, "bridge_alice")).status == 200
    resp = await client.get(
        WHOAMI, params={"user_id": "@bridge_alice:test.local"}, headers=auth_header(AS_TOKEN)
    )
    assert resp.status == 200
    assert (await resp.json())["user_id"] == "@bridge_alice:test.local"


async def test_as_token_forbidden_when_user_outside_namespace(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _start(client_for, tmp_path)
    await register_user(client, "carol")
    resp = await client.get(
        WHOAMI, params={"user_id": "@carol:test.local"}, headers=auth_header(AS_TOKEN)
    )
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


async def test_as_token_forbidden_when_user_not_registered(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path)
    resp = await client.get(
        WHOAMI, params={"user_id": "@bridge_ghost:test.local"}, headers=auth_header(AS_TOKEN)
    )
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


async def test_unknown_token_rejected_when_not_as_token(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path)
    resp = await client.get(WHOAMI, headers=auth_header("not-a-token"))
    assert resp.status == 401
    assert (await resp.json())["errcode"] == "M_UNKNOWN_TOKEN"


async def test_user_id_param_ignored_when_normal_user(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path)
    alice = await register_user(client, "alice")
    resp = await client.get(
        WHOAMI,
        params={"user_id": "@bridgebot:test.local"},
        headers=auth_header(alice["access_token"]),
    )
    assert (await resp.json())["user_id"] == "@alice:test.local"


async def test_device_masquerade_unknown_device_when_msc4190(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _start(client_for, tmp_path, **{"io.element.msc4190": True})
    resp = await client.get(WHOAMI, params={"device_id": "NOPE"}, headers=auth_header(AS_TOKEN))
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_UNKNOWN_DEVICE"


async def test_device_masquerade_acts_as_device_when_it_exists(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _start(client_for, tmp_path, **{"org.matrix.msc3202": True})
    reg = await (await _as_register(client, "bridge_dev")).json()
    resp = await client.get(
        WHOAMI,
        params={"user_id": reg["user_id"], "org.matrix.msc3202.device_id": reg["device_id"]},
        headers=auth_header(AS_TOKEN),
    )
    assert (await resp.json())["device_id"] == reg["device_id"]


async def test_device_masquerade_needs_no_unstable_flag(client_for: Any, tmp_path: Path) -> None:
    """Spec v1.17 (MSC4326): ``device_id`` works for every appservice."""
    client = await _start(client_for, tmp_path)
    reg = await (await _as_register(client, "bridge_dev")).json()
    resp = await client.get(
        WHOAMI,
        params={"user_id": reg["user_id"], "device_id": reg["device_id"]},
        headers=auth_header(AS_TOKEN),
    )
    assert (await resp.json())["device_id"] == reg["device_id"]
    resp = await client.get(WHOAMI, params={"device_id": "NOPE"}, headers=auth_header(AS_TOKEN))
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_UNKNOWN_DEVICE"


async def test_as_registration_creates_user_when_in_namespace(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _start(client_for, tmp_path, registration={"enabled": False})
    resp = await _as_register(client, "bridge_bob")
    assert resp.status == 200
    data = await resp.json()
    assert data["user_id"] == "@bridge_bob:test.local"
    assert "access_token" in data


async def test_as_registration_exclusive_when_outside_namespace(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _start(client_for, tmp_path)
    resp = await _as_register(client, "dave")
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_EXCLUSIVE"


async def test_as_registration_unknown_token_when_token_wrong(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _start(client_for, tmp_path)
    resp = await _as_register(client, "bridge_x", token="wrong")
    assert resp.status == 401
    assert (await resp.json())["errcode"] == "M_UNKNOWN_TOKEN"


async def test_normal_registration_exclusive_when_in_exclusive_namespace(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _start(client_for, tmp_path)
    body = {"username": "bridge_eve", "password": "password-123", "auth": {"type": "m.login.dummy"}}
    resp = await client.post(REGISTER, json=body)
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_EXCLUSIVE"
    avail = await client.get(REGISTER + "/available", params={"username": "bridge_eve"})
    assert (await avail.json())["errcode"] == "M_EXCLUSIVE"


async def test_as_registration_not_rate_limited_when_limits_on(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _start(
        client_for,
        tmp_path,
        rate_limits={"enabled": True, "registration": {"per_second": 0.01, "burst": 1}},
    )
    for i in range(4):
        assert (await _as_register(client, f"bridge_r{i}")).status == 200
