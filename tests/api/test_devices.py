"""GET/PUT/DELETE /devices, POST /delete_devices (with user-interactive auth)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import auth_header, login, register_user

Client = TestClient[Any, Any]
DEVICES = "/_matrix/client/v3/devices"


def _password_auth(user: str, password: str = "password-123", **extra: Any) -> dict[str, Any]:
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
        **extra,
    }


async def test_list_devices_shows_each_login(client: Client) -> None:
    alice = await register_user(client, "alice")
    other = await login(client, "alice", device_id="TABLET", initial_device_display_name="Tab")
    resp = await client.get(DEVICES, headers=auth_header(alice["access_token"]))
    devices = {d["device_id"]: d for d in (await resp.json())["devices"]}
    assert set(devices) == {alice["device_id"], other["device_id"]}
    assert devices["TABLET"]["display_name"] == "Tab"
    assert isinstance(devices["TABLET"]["last_seen_ts"], int)


async def test_get_unknown_device_is_not_found(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.get(DEVICES + "/NOPE", headers=auth_header(alice["access_token"]))
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_get_other_users_device_is_not_found(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    resp = await client.get(
        DEVICES + "/" + bob["device_id"], headers=auth_header(alice["access_token"])
    )
    assert resp.status == 404


async def test_put_device_sets_display_name(client: Client) -> None:
    alice = await register_user(client, "alice")
    path = DEVICES + "/" + alice["device_id"]
    headers = auth_header(alice["access_token"])
    resp = await client.put(path, headers=headers, json={"display_name": "Work"})
    assert resp.status == 200
    assert (await (await client.get(path, headers=headers)).json())["display_name"] == "Work"


async def test_put_unknown_device_is_not_found(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.put(
        DEVICES + "/NOPE", headers=auth_header(alice["access_token"]), json={"display_name": "x"}
    )
    assert resp.status == 404


async def test_put_device_bad_name_type_is_bad_json(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.put(
        DEVICES + "/" + alice["device_id"],
        headers=auth_header(alice["access_token"]),
        json={"display_name": 5},
    )
    assert (await resp.json())["errcode"] == "M_BAD_JSON"


async def test_delete_device_without_auth_asks_for_password(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.delete(
        DEVICES + "/" + alice["device_id"], headers=auth_header(alice["access_token"])
    )
    body = await resp.json()
    assert resp.status == 401
    assert body["flows"] == [{"stages": ["m.login.password"]}]
    assert "errcode" not in body


async def test_delete_device_with_password_revokes_its_token(client: Client) -> None:
    alice = await register_user(client, "alice")
    other = await login(client, "alice")
    headers = auth_header(alice["access_token"])
    first = await client.delete(DEVICES + "/" + other["device_id"], headers=headers)
    session = (await first.json())["session"]
    resp = await client.delete(
        DEVICES + "/" + other["device_id"],
        headers=headers,
        json={"auth": _password_auth("alice", session=session)},
    )
    assert resp.status == 200
    gone = await client.get(
        "/_matrix/client/v3/account/whoami", headers=auth_header(other["access_token"])
    )
    assert gone.status == 401


async def test_delete_device_wrong_password_fails_stage_with_forbidden(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.delete(
        DEVICES + "/" + alice["device_id"],
        headers=auth_header(alice["access_token"]),
        json={"auth": _password_auth("alice", "not-my-password")},
    )
    body = await resp.json()
    assert resp.status == 401
    assert body["errcode"] == "M_FORBIDDEN"
    assert body["flows"] == [{"stages": ["m.login.password"]}]


async def test_delete_device_as_other_user_is_forbidden(client: Client) -> None:
    alice = await register_user(client, "alice")
    await register_user(client, "bob")
    resp = await client.delete(
        DEVICES + "/" + alice["device_id"],
        headers=auth_header(alice["access_token"]),
        json={"auth": _password_auth("bob")},
    )
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


async def test_delete_devices_removes_listed_devices(client: Client) -> None:
    alice = await register_user(client, "alice")
    a = await login(client, "alice", device_id="A")
    await login(client, "alice", device_id="B")
    headers = auth_header(alice["access_token"])
    resp = await client.post(
        "/_matrix/client/v3/delete_devices",
        headers=headers,
        json={"devices": ["A", "B", "UNKNOWN"], "auth": _password_auth("@alice:test.local")},
    )
    assert resp.status == 200
    listed = await (await client.get(DEVICES, headers=headers)).json()
    assert [d["device_id"] for d in listed["devices"]] == [alice["device_id"]]
    gone = await client.get(
        "/_matrix/client/v3/account/whoami", headers=auth_header(a["access_token"])
    )
    assert gone.status == 401


async def test_delete_devices_bad_list_is_bad_json(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.post(
        "/_matrix/client/v3/delete_devices",
        headers=auth_header(alice["access_token"]),
        json={"devices": [1, 2]},
    )
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_BAD_JSON"
