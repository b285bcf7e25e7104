"""POST /register, GET /register/available, registration token validity."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import REGISTER, auth_header, register_user, services_of

Client = TestClient[Any, Any]
AVAILABLE = "/_matrix/client/v3/register/available"
VALIDITY = "/_matrix/client/v1/register/m.login.registration_token/validity"


async def test_register_returns_tokens_with_dummy_auth(client: Client) -> None:
    data = await register_user(client, "alice")
    assert data["user_id"] == "@alice:test.local"
    assert data["access_token"].startswith("hsa_")
    assert data["device_id"]
    resp = await client.get(
        "/_matrix/client/v3/account/whoami", headers=auth_header(data["access_token"])
    )
    assert (await resp.json())["user_id"] == "@alice:test.local"


async def test_register_without_auth_returns_flows(client: Client) -> None:
    resp = await client.post(REGISTER, json={"username": "bob", "password": "password-123"})
    body = await resp.json()
    assert resp.status == 401
    assert body["flows"] == [{"stages": ["m.login.dummy"]}]
    assert isinstance(body["session"], str)
    assert body["params"] == {}


async def test_register_empty_body_returns_flows(client: Client) -> None:
    """``{}`` is how clients discover the flows: 401, as Synapse answers."""
    resp = await client.post(REGISTER, json={})
    body = await resp.json()
    assert resp.status == 401
    assert body["flows"] == [{"stages": ["m.login.dummy"]}]
    assert isinstance(body["session"], str)


async def test_register_without_password_returns_flows_then_missing_param(
    client: Client,
) -> None:
    first = await client.post(REGISTER, json={"username": "bob"})
    assert first.status == 401
    session = (await first.json())["session"]
    auth = {"type": "m.login.dummy", "session": session}
    resp = await client.post(REGISTER, json={"username": "bob", "auth": auth})
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_MISSING_PARAM"
    # The completed stage stays with the session: adding the password finishes.
    resp = await client.post(
        REGISTER, json={"username": "bob", "password": "password-123", "auth": auth}
    )
    assert resp.status == 200
    assert (await resp.json())["user_id"] == "@bob:test.local"


async def test_register_completes_with_session_from_first_round(client: Client) -> None:
    first = await client.post(REGISTER, json={"username": "bob", "password": "password-123"})
    session = (await first.json())["session"]
    resp = await client.post(
        REGISTER,
        json={
            "username": "bob",
            "password": "password-123",
            "auth": {"type": "m.login.dummy", "session": session},
        },
    )
    assert resp.status == 200
    assert (await resp.json())["user_id"] == "@bob:test.local"


async def test_register_taken_username_is_user_in_use(client: Client) -> None:
    await register_user(client, "alice")
    resp = await client.post(
        REGISTER,
        json={"username": "alice", "password": "password-123", "auth": {"type": "m.login.dummy"}},
    )
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_USER_IN_USE"


async def test_register_bad_username_is_invalid_username(client: Client) -> None:
    for name in ("al!ce", "", "12345", "a" * 300):
        resp = await client.post(
            REGISTER,
            json={"username": name, "password": "password-123", "auth": {"type": "m.login.dummy"}},
        )
        assert resp.status == 400, name
        assert (await resp.json())["errcode"] == "M_INVALID_USERNAME", name


async def test_register_capitals_are_lowercased(client: Client) -> None:
    data = await register_user(client, "CamelCase")
    assert data["user_id"] == "@camelcase:test.local"


async def test_register_short_password_is_weak_password(client: Client) -> None:
    resp = await client.post(
        REGISTER, json={"username": "bob", "password": "short", "auth": {"type": "m.login.dummy"}}
    )
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_WEAK_PASSWORD"


async def test_register_missing_password_is_missing_param(client: Client) -> None:
    resp = await client.post(REGISTER, json={"username": "bob", "auth": {"type": "m.login.dummy"}})
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_MISSING_PARAM"


async def test_register_without_username_generates_one(client: Client) -> None:
    resp = await client.post(
        REGISTER, json={"password": "password-123", "auth": {"type": "m.login.dummy"}}
    )
    body = await resp.json()
    assert resp.status == 200
    assert body["user_id"].endswith(":test.local")


async def test_register_disabled_is_forbidden(client_for: Any) -> None:
    client = await client_for(registration={"enabled": False})
    resp = await client.post(
        REGISTER,
        json={"username": "bob", "password": "password-123", "auth": {"type": "m.login.dummy"}},
    )
    body = await resp.json()
    assert resp.status == 403
    assert body["errcode"] == "M_FORBIDDEN"
    assert "disabled" in body["error"]


async def test_register_inhibit_login_returns_no_token(client: Client) -> None:
    resp = await client.post(
        REGISTER,
        json={
            "username": "bob",
            "password": "password-123",
            "inhibit_login": True,
            "auth": {"type": "m.login.dummy"},
        },
    )
    body = await resp.json()
    assert resp.status == 200
    assert body["user_id"] == "@bob:test.local"
    assert "access_token" not in body
    assert "device_id" not in body


async def test_register_uses_given_device_id_and_display_name(client: Client) -> None:
    resp = await client.post(
        REGISTER,
        json={
            "username": "bob",
            "password": "password-123",
            "device_id": "MYPHONE",
            "initial_device_display_name": "Bob's phone",
            "auth": {"type": "m.login.dummy"},
        },
    )
    body = await resp.json()
    assert body["device_id"] == "MYPHONE"
    dev = await client.get(
        "/_matrix/client/v3/devices/MYPHONE", headers=auth_header(body["access_token"])
    )
    assert (await dev.json())["display_name"] == "Bob's phone"


async def test_register_refresh_token_when_asked(client: Client) -> None:
    resp = await client.post(
        REGISTER,
        json={
            "username": "bob",
            "password": "password-123",
            "refresh_token": True,
            "auth": {"type": "m.login.dummy"},
        },
    )
    assert (await resp.json())["refresh_token"].startswith("hsr_")


async def test_register_guest_refused_when_guests_disabled(client: Client) -> None:
    resp = await client.post(REGISTER + "?kind=guest", json={})
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


async def test_register_guest_gets_guest_token(client_for: Any) -> None:
    client = await client_for(registration={"allow_guests": True})
    resp = await client.post(REGISTER + "?kind=guest", json={})
    body = await resp.json()
    assert resp.status == 200
    who = await client.get(
        "/_matrix/client/v3/account/whoami", headers=auth_header(body["access_token"])
    )
    assert (await who.json())["is_guest"] is True
    devices = await client.delete(
        "/_matrix/client/v3/devices/X", headers=auth_header(body["access_token"])
    )
    assert (await devices.json())["errcode"] == "M_GUEST_ACCESS_FORBIDDEN"


async def test_register_unknown_kind_is_invalid_param(client: Client) -> None:
    resp = await client.post(REGISTER + "?kind=robot", json={})
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_INVALID_PARAM"


async def test_available_true_for_free_name(client: Client) -> None:
    resp = await client.get(AVAILABLE, params={"username": "newbie"})
    assert resp.status == 200
    assert await resp.json() == {"available": True}


async def test_available_taken_name_is_user_in_use(client: Client) -> None:
    await register_user(client, "alice")
    resp = await client.get(AVAILABLE, params={"username": "alice"})
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_USER_IN_USE"


async def test_available_bad_name_is_invalid_username(client: Client) -> None:
    resp = await client.get(AVAILABLE, params={"username": "b@d"})
    assert (await resp.json())["errcode"] == "M_INVALID_USERNAME"


async def test_register_token_required_offers_token_flow(client_for: Any) -> None:
    client = await client_for(registration={"require_token": True})
    resp = await client.post(REGISTER, json={"username": "bob", "password": "password-123"})
    body = await resp.json()
    assert resp.status == 401
    assert body["flows"] == [{"stages": ["m.login.registration_token"]}]


async def test_register_token_invalid_fails_stage(client_for: Any) -> None:
    client = await client_for(registration={"require_token": True})
    resp = await client.post(
        REGISTER,
        json={
            "username": "bob",
            "password": "password-123",
            "auth": {"type": "m.login.registration_token", "token": "nope"},
        },
    )
    body = await resp.json()
    assert resp.status == 401
    assert body["errcode"] == "M_UNAUTHORIZED"
    assert "session" in body


async def test_register_token_single_use_is_spent(client_for: Any) -> None:
    client = await client_for(registration={"require_token": True})
    token = await services_of(client).registration.create_registration_token(
        "abc-123", uses_allowed=1
    )
    valid = await client.get(VALIDITY, params={"token": token})
    assert await valid.json() == {"valid": True}
    auth = {"type": "m.login.registration_token", "token": token}
    first = await client.post(
        REGISTER, json={"username": "bob", "password": "password-123", "auth": auth}
    )
    assert first.status == 200
    second = await client.post(
        REGISTER, json={"username": "carol", "password": "password-123", "auth": auth}
    )
    assert second.status == 401
    assert (await second.json())["errcode"] == "M_UNAUTHORIZED"
    spent = await client.get(VALIDITY, params={"token": token})
    assert await spent.json() == {"valid": False}


async def test_token_validity_forbidden_when_registration_disabled(client_for: Any) -> None:
    client = await client_for(registration={"enabled": False})
    resp = await client.get(VALIDITY, params={"token": "abc"})
    assert resp.status == 403


async def test_uia_session_cannot_be_reused_for_another_endpoint(client: Client) -> None:
    first = await client.post(REGISTER, json={"username": "bob", "password": "password-123"})
    session = (await first.json())["session"]
    alice = await register_user(client, "alice")
    resp = await client.post(
        "/_matrix/client/v3/delete_devices",
        headers=auth_header(alice["access_token"]),
        json={"devices": [], "auth": {"type": "m.login.dummy", "session": session}},
    )
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


async def test_uia_unknown_session_is_rejected(client: Client) -> None:
    resp = await client.post(
        REGISTER,
        json={
            "username": "bob",
            "password": "password-123",
            "auth": {"type": "m.login.dummy", "session": "no-such-session"},
        },
    )
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_UNKNOWN"
