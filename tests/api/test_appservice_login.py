"""``POST /login`` with ``type: m.login.application_service``: an appservice
logs in as one of its users with its as_token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.fake_bridge import AS_TOKEN, registration, write_registration
from tests.api.helpers import LOGIN, REGISTER, auth_header, register_user, services_of

AS_LOGIN = "m.login.application_service"
_INVALID = "M_INVALID_USERNAME"
_FORBIDDEN = "M_FORBIDDEN"


async def _start(client_for: Any, tmp_path: Path, **reg: Any) -> Any:
    path = write_registration(tmp_path, registration(None, **reg))
    return await client_for(app_service_config_files=[path])


async def _register_ghost(client: Any, localpart: str) -> str:
    body = {"type": AS_LOGIN, "username": localpart, "inhibit_login": True}
    resp = await client.post(REGISTER, json=body, headers=auth_header(AS_TOKEN))
    assert resp.status == 200, await resp.text()
    user_id: str = (await resp.json())["user_id"]
    return user_id


async def _as_login(
    client: Any, user: str, token: str | None = AS_TOKEN, **extra: Any
) -> tuple[int, Any]:
    body = {"type": AS_LOGIN, "identifier": {"type": "m.id.user", "user": user}, **extra}
    headers = auth_header(token) if token is not None else {}
    resp = await client.post(LOGIN, json=body, headers=headers)
    return resp.status, await resp.json()


async def test_login_flows_list_appservice_login(client: Any) -> None:
    resp = await client.get(LOGIN)
    flows = [f["type"] for f in (await resp.json())["flows"]]
    assert AS_LOGIN in flows


async def test_appservice_login_gives_session_when_user_in_namespace(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _start(client_for, tmp_path)
    ghost = await _register_ghost(client, "bridge_hal")
    for user in (ghost, "bridge_hal"):
        status, body = await _as_login(client, user, device_id="GHOSTDEV")
        assert status == 200, body
        assert (body["user_id"], body["device_id"]) == (ghost, "GHOSTDEV")
        whoami = await client.get(
            "/_matrix/client/v3/account/whoami", headers=auth_header(body["access_token"])
        )
        assert (await whoami.json())["user_id"] == ghost
        assert (await whoami.json())["device_id"] == "GHOSTDEV"


async def test_appservice_login_works_for_sender(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path)
    status, body = await _as_login(client, "@bridgebot:test.local")
    assert (status, body.get("user_id")) == (200, "@bridgebot:test.local")


async def test_appservice_login_forbidden_when_user_outside_namespace(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _start(client_for, tmp_path)
    alice = await register_user(client, "alice")
    for user in (alice["user_id"], "alice", "@bridge_x:other.example"):
        status, body = await _as_login(client, user)
        assert (status, body["errcode"]) == (403, "M_FORBIDDEN"), user


async def test_appservice_login_forbidden_when_user_unknown(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _start(client_for, tmp_path)
    status, body = await _as_login(client, "@bridge_nobody:test.local")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


async def test_appservice_login_needs_as_token(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path)
    await _register_ghost(client, "bridge_ivy")
    status, body = await _as_login(client, "bridge_ivy", token=None)
    assert (status, body["errcode"]) == (401, "M_MISSING_TOKEN")
    status, body = await _as_login(client, "bridge_ivy", token="not-an-as-token")
    assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN")
    # A user's own access token is not an as_token either.
    alice = await register_user(client, "alice")
    status, body = await _as_login(client, "bridge_ivy", token=alice["access_token"])
    assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN")


async def test_appservice_login_bad_identifier(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path)
    headers = auth_header(AS_TOKEN)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"type": AS_LOGIN}, 400, "M_MISSING_PARAM"),
        ({"type": AS_LOGIN, "identifier": {"type": "m.id.user"}}, 400, "M_MISSING_PARAM"),
        ({"type": AS_LOGIN, "identifier": {"type": "m.id.user", "user": 5}}, 400, "M_BAD_JSON"),
        ({"type": AS_LOGIN, "identifier": {"type": "m.id.user", "user": "@"}}, 400, _INVALID),
        (
            {"type": AS_LOGIN, "identifier": {"type": "m.id.user", "user": "@nocolon"}},
            400,
            _INVALID,
        ),
        (
            {"type": AS_LOGIN, "identifier": {"type": "m.id.user", "user": "bad id"}},
            403,
            _FORBIDDEN,
        ),
        (
            {"type": AS_LOGIN, "identifier": {"type": "m.id.thirdparty", "medium": "email"}},
            403,
            "M_FORBIDDEN",
        ),
    ]
    for body, status, errcode in cases:
        resp = await client.post(LOGIN, json=body, headers=headers)
        assert (resp.status, (await resp.json())["errcode"]) == (status, errcode), body


async def test_appservice_login_user_deactivated(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path)
    ghost = await _register_ghost(client, "bridge_jo")
    await services_of(client).account.deactivate(ghost)
    status, body = await _as_login(client, ghost)
    assert (status, body["errcode"]) == (403, "M_USER_DEACTIVATED")


async def test_appservice_login_unsupported_when_msc4190(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path, **{"io.element.msc4190": True})
    ghost = await _register_ghost(client, "bridge_kim")
    status, body = await _as_login(client, ghost)
    assert (status, body["errcode"]) == (400, "M_APPSERVICE_LOGIN_UNSUPPORTED")


async def test_appservice_login_not_rate_limited(client_for: Any, tmp_path: Path) -> None:
    path = write_registration(tmp_path, registration(None))
    client = await client_for(
        app_service_config_files=[path],
        rate_limits={"enabled": True, "login": {"per_second": 0.01, "burst": 1}},
    )
    ghost = await _register_ghost(client, "bridge_lee")
    for _ in range(4):
        status, body = await _as_login(client, ghost)
        assert status == 200, body


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    identifier=st.one_of(
        _json_values,
        st.fixed_dictionaries({"type": st.just("m.id.user"), "user": _json_values}),
        st.fixed_dictionaries(
            {"type": st.just("m.id.user"), "user": st.text(max_size=40).map(lambda s: "@" + s)}
        ),
    ),
    token=st.sampled_from([AS_TOKEN, None, "x"]),
)
async def test_appservice_login_random_identifiers_never_500(
    client_for: Any, tmp_path: Path, identifier: Any, token: str | None
) -> None:
    cache: dict[str, Any] = getattr(test_appservice_login_random_identifiers_never_500, "_c", {})
    key = str(tmp_path)
    if key not in cache:
        cache[key] = await _start(client_for, tmp_path)
        test_appservice_login_random_identifiers_never_500._c = cache  # type: ignore[attr-defined]
    client = cache[key]
    headers = auth_header(token) if token is not None else {}
    resp = await client.post(
        LOGIN, json={"type": AS_LOGIN, "identifier": identifier}, headers=headers
    )
    data = await resp.json()
    if resp.status == 200:  # only the sender exists: a generated "bridgebot"
        assert data["user_id"] == "@bridgebot:test.local"
        return
    assert resp.status in (400, 401, 403)
    assert isinstance(data["errcode"], str)
    assert isinstance(data["error"], str)
