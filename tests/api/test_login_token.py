"""POST /_matrix/client/v1/login/get_token and the m.get_login_token capability."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.fuzz_helpers import json_values
from tests.api.rooms_helpers import V3, User, new_user

Client = TestClient[Any, Any]
PATH = "/_matrix/client/v1/login/get_token"


def _password_auth(user: User, session: str, password: str = "password-123") -> dict[str, Any]:
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user.user_id},
        "password": password,
        "session": session,
    }


async def _post(user: User, body: Any) -> tuple[int, Any]:
    resp = await user.client.post(PATH, json=body, headers=user.headers)
    return resp.status, await resp.json()


async def test_get_token_disabled_by_default(client: Client) -> None:
    alice = await new_user(client, "alice")
    status, body = await _post(alice, {})
    assert (status, body["errcode"]) == (404, "M_UNRECOGNIZED")
    caps = await alice.ok("GET", "/capabilities")
    assert caps["capabilities"]["m.get_login_token"] == {"enabled": False}


async def test_get_token_after_uia_logs_in(client_for: Any) -> None:
    client = await client_for(auth={"login_token_enabled": True})
    alice = await new_user(client, "alice")
    caps = await alice.ok("GET", "/capabilities")
    assert caps["capabilities"]["m.get_login_token"] == {"enabled": True}
    flows = await (await client.get(V3 + "/login")).json()
    assert {"type": "m.login.token", "get_login_token": True} in flows["flows"]

    status, challenge = await _post(alice, {})
    assert status == 401
    assert {"stages": ["m.login.password"]} in challenge["flows"]
    status, body = await _post(alice, {"auth": _password_auth(alice, challenge["session"])})
    assert status == 200, body
    assert body["expires_in_ms"] == 120_000
    resp = await client.post(
        V3 + "/login", json={"type": "m.login.token", "token": body["login_token"]}
    )
    assert resp.status == 200
    assert (await resp.json())["user_id"] == alice.user_id
    # Single use.
    resp = await client.post(
        V3 + "/login", json={"type": "m.login.token", "token": body["login_token"]}
    )
    assert resp.status == 403


async def test_get_token_wrong_password_rejected(client_for: Any) -> None:
    client = await client_for(auth={"login_token_enabled": True})
    alice = await new_user(client, "alice")
    status, challenge = await _post(alice, {})
    auth = _password_auth(alice, challenge["session"], password="wrong-password")
    status, body = await _post(alice, {"auth": auth})
    assert status == 401
    assert body["errcode"] == "M_FORBIDDEN"


async def test_get_token_requires_token(client_for: Any) -> None:
    client = await client_for(auth={"login_token_enabled": True})
    resp = await client.post(PATH, json={})
    assert resp.status == 401


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(st.sampled_from(["auth"]), json_values, max_size=1) | json_values)
async def test_get_token_random_bodies_never_500(client_for: Any, body: Any) -> None:
    if not hasattr(client_for, "_fuzz"):
        client = await client_for(auth={"login_token_enabled": True})
        client_for._fuzz = (client, await new_user(client, "fuzzer"))  # type: ignore[attr-defined]
    client, user = client_for._fuzz  # type: ignore[attr-defined]
    resp = await client.post(PATH, data=json.dumps(body).encode(), headers=user.headers)
    assert resp.status < 500
    data = await resp.json()
    if resp.status == 401:
        # The user-interactive auth challenge.
        assert isinstance(data["session"], str)
    elif resp.status >= 400:
        assert isinstance(data["errcode"], str)
