"""Random request bodies never make the account endpoints fail with a 500.

Every answer is either a success, a user-interactive auth challenge, or a 4xx
with ``errcode`` and ``error``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.api.helpers import LOGIN, REGISTER, auth_header, register_user

Client = TestClient[Any, Any]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
#: Keys the account endpoints read, so bodies get past the first checks.
known_keys = st.sampled_from(
    [
        "type",
        "identifier",
        "user",
        "password",
        "username",
        "auth",
        "session",
        "device_id",
        "initial_device_display_name",
        "inhibit_login",
        "refresh_token",
        "token",
        "display_name",
        "medium",
    ]
)
bodies = (
    st.dictionaries(known_keys | st.text(max_size=8), json_values, max_size=6)
    | st.builds(lambda v: {"auth": v}, st.dictionaries(known_keys, json_values, max_size=4))
    | st.builds(
        lambda v: {"type": "m.login.password", "identifier": v, "password": "password-123"},
        json_values,
    )
    | json_values
)
raw = bodies.map(lambda b: json.dumps(b).encode()) | st.binary(max_size=40)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


async def _check(resp: Any) -> None:
    assert resp.status < 500
    if resp.status < 400:
        return
    body = await resp.json()
    if resp.status == 401 and "flows" in body:
        assert isinstance(body["session"], str)
        return
    assert isinstance(body["errcode"], str)
    assert isinstance(body["error"], str)


@FUZZ
@given(data=raw)
async def test_register_random_body_never_500(client: Client, data: bytes) -> None:
    await _check(await client.post(REGISTER, data=data))


@FUZZ
@given(data=raw)
async def test_login_random_body_never_500(client: Client, data: bytes) -> None:
    await _check(await client.post(LOGIN, data=data))


@FUZZ
@given(
    data=raw,
    device_id=st.text(min_size=1, max_size=12),
    method=st.sampled_from(["PUT", "DELETE", "GET"]),
)
@example(data=b"{}", device_id="\x00", method="PUT")
@example(data=b'{"display_name": "a\\u0000b"}', device_id="X", method="PUT")
async def test_device_random_request_never_500(
    client: Client, data: bytes, device_id: str, method: str
) -> None:
    if not hasattr(client, "_fuzz_token"):
        client._fuzz_token = (await register_user(client, "fuzzer"))["access_token"]  # type: ignore[attr-defined]
    resp = await client.request(
        method,
        "/_matrix/client/v3/devices/" + quote(device_id, safe=""),
        data=data,
        headers=auth_header(client._fuzz_token),  # type: ignore[attr-defined]
    )
    await _check(resp)
