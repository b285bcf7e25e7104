"""The HTTP edge: Matrix errors for every failure class, CORS, discovery,
rate limits, body limits, and the request id on log lines."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.helpers import LOGIN, auth_header, register_user, services_of

Client = TestClient[Any, Any]


async def error_of(resp: Any) -> tuple[int, str]:
    data = await resp.json()
    assert isinstance(data.get("error"), str)
    return resp.status, data["errcode"]


async def test_unknown_endpoint_is_404_unrecognized(client: Client) -> None:
    resp = await client.get("/_matrix/client/v3/no_such_thing")
    assert await error_of(resp) == (404, "M_UNRECOGNIZED")


async def test_known_path_with_wrong_method_is_405_unrecognized(client: Client) -> None:
    resp = await client.delete("/_matrix/client/versions")
    assert await error_of(resp) == (405, "M_UNRECOGNIZED")


async def test_preflight_answers_with_cors_headers(client: Client) -> None:
    resp = await client.options(
        "/_matrix/client/v3/login",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert resp.status in (200, 204)
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]


async def test_cors_headers_on_answers_and_errors(client: Client) -> None:
    ok = await client.get("/_matrix/client/versions")
    bad = await client.get("/_matrix/client/v3/account/whoami")
    assert ok.headers["Access-Control-Allow-Origin"] == "*"
    assert bad.headers["Access-Control-Allow-Origin"] == "*"


async def test_malformed_json_is_not_json(client: Client) -> None:
    resp = await client.post(LOGIN, data=b"{not json", headers={"Content-Type": "application/json"})
    assert await error_of(resp) == (400, "M_NOT_JSON")


async def test_json_that_is_not_an_object_is_bad_json(client: Client) -> None:
    # As Synapse: valid JSON of the wrong shape is M_BAD_JSON, not M_NOT_JSON.
    resp = await client.post(LOGIN, json=[1, 2, 3])
    assert await error_of(resp) == (400, "M_BAD_JSON")


async def test_wrong_field_type_is_bad_json(client: Client) -> None:
    user = await register_user(client, "alice")
    resp = await client.put(
        f"/_matrix/client/v3/profile/{user['user_id']}/displayname",
        json={"displayname": 42},
        headers=auth_header(user["access_token"]),
    )
    assert await error_of(resp) == (400, "M_BAD_JSON")


async def test_missing_token_is_401_missing_token(client: Client) -> None:
    resp = await client.get("/_matrix/client/v3/account/whoami")
    assert await error_of(resp) == (401, "M_MISSING_TOKEN")


async def test_invalid_token_is_401_unknown_token(client: Client) -> None:
    resp = await client.get(
        "/_matrix/client/v3/account/whoami", headers=auth_header("hsa_not_a_real_token")
    )
    status, errcode = await error_of(resp)
    assert (status, errcode) == (401, "M_UNKNOWN_TOKEN")


async def test_token_in_query_parameter_still_works(client: Client) -> None:
    user = await register_user(client, "alice")
    resp = await client.get(
        "/_matrix/client/v3/account/whoami", params={"access_token": user["access_token"]}
    )
    assert resp.status == 200
    assert (await resp.json())["user_id"] == user["user_id"]


async def test_body_over_limit_is_413_too_large(client_for: Any) -> None:
    client = await client_for(limits={"max_request_body_bytes": 2048})
    resp = await client.post(LOGIN, json={"type": "m.login.password", "pad": "x" * 5000})
    assert await error_of(resp) == (413, "M_TOO_LARGE")


async def test_login_rate_limit_gives_429_with_retry_after(client_for: Any) -> None:
    client = await client_for(
        rate_limits={"enabled": True, "login": {"per_second": 0.01, "burst": 2}}
    )
    body = {"type": "m.login.password", "user": "nobody", "password": "wrong-password"}
    statuses = []
    for _ in range(4):
        resp = await client.post(LOGIN, json=body)
        statuses.append(resp.status)
        if resp.status == 429:
            data = await resp.json()
            assert data["errcode"] == "M_LIMIT_EXCEEDED"
            assert data["retry_after_ms"] > 0
            assert int(resp.headers["Retry-After"]) >= 1
    assert statuses[:2] == [403, 403]
    assert statuses[-1] == 429


async def test_unexpected_error_is_500_unknown_logged_once_with_request_id(
    client: Client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await register_user(client, "alice")

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("simulated fault")

    # Fault injection: the storage underneath a real service fails.
    monkeypatch.setattr(services_of(client).profiles, "get_profile", broken)
    caplog.set_level(logging.ERROR)
    resp = await client.get(
        f"/_matrix/client/v3/profile/{user['user_id']}",
        headers=auth_header(user["access_token"]),
    )
    assert await error_of(resp) == (500, "M_UNKNOWN")
    faults = [r for r in caplog.records if r.exc_info and "simulated fault" in str(r.exc_info[1])]
    assert len(faults) == 1


async def test_versions_lists_spec_versions(client: Client) -> None:
    data = await (await client.get("/_matrix/client/versions")).json()
    assert "v1.1" in data["versions"]
    assert isinstance(data["unstable_features"], dict)


async def test_capabilities_name_default_and_available_room_versions(client: Client) -> None:
    user = await register_user(client, "alice")
    resp = await client.get(
        "/_matrix/client/v3/capabilities", headers=auth_header(user["access_token"])
    )
    caps = (await resp.json())["capabilities"]
    versions = caps["m.room_versions"]
    assert versions["default"] == "10"
    assert versions["available"]["12"] == "stable"
    assert caps["m.change_password"] == {"enabled": True}


async def test_well_known_client_unset_is_404_and_set_is_served(client_for: Any) -> None:
    plain = await client_for()
    resp = await plain.get("/.well-known/matrix/client")
    assert (await error_of(resp))[0] == 404
    configured = await client_for(public_baseurl="https://matrix.example.org/")
    data = await (await configured.get("/.well-known/matrix/client")).json()
    assert data["m.homeserver"]["base_url"] == "https://matrix.example.org/"


async def test_access_log_has_request_id_and_never_the_token(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from homeserver.logging import RedactSecretsFilter, RequestIdFilter

    client = await client_for(logging={"access_log": True})
    user = await register_user(client, "alice")
    caplog.set_level(logging.INFO, logger="homeserver.access")
    caplog.handler.addFilter(RequestIdFilter())
    caplog.handler.addFilter(RedactSecretsFilter())
    await client.get(
        "/_matrix/client/v3/account/whoami", params={"access_token": user["access_token"]}
    )
    lines = [r for r in caplog.records if r.name == "homeserver.access"]
    assert lines
    assert all(getattr(r, "request_id", "-") != "-" for r in lines)
    assert user["access_token"] not in caplog.text


@pytest.mark.parametrize(
    "path",
    [
        "/_matrix/client/v3/profile/%40a%00b%3Ahs",
        "/_synapse/admin/v1/room_reports?user_id=%00",
        "/_matrix/client/v3/publicRooms?since=a%00b",
    ],
)
async def test_nul_in_path_or_query_is_400_invalid_param(client: Client, path: str) -> None:
    data = await register_user(client, "nul")
    resp = await client.get(path, headers=auth_header(data))
    assert await error_of(resp) == (400, "M_INVALID_PARAM")
