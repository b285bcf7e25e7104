"""OpenID tokens: request one, check it through the federation userinfo endpoint."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import example, given
from hypothesis import strategies as st

from homeserver.services.clock import FakeClock
from tests.api.rooms_helpers import new_user
from tests.api.test_accounts_fuzz import FUZZ, _check, raw

Client = TestClient[Any, Any]
USERINFO = "/_matrix/federation/v1/openid/userinfo"


def _request_token_path(user_id: str) -> str:
    return f"/_matrix/client/v3/user/{quote(user_id)}/openid/request_token"


async def test_openid_token_round_trip_names_the_user(client: Client) -> None:
    alice = await new_user(client, "alice")
    resp = await client.post(_request_token_path(alice.user_id), json={}, headers=alice.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["token_type"] == "Bearer"
    assert body["matrix_server_name"] == "test.local"
    assert body["expires_in"] == 3600
    resp = await client.get(USERINFO, params={"access_token": body["access_token"]})
    assert resp.status == 200
    assert await resp.json() == {"sub": alice.user_id}


async def test_userinfo_rejects_unknown_and_access_tokens(client: Client) -> None:
    alice = await new_user(client, "alice")
    for token in (None, "nope", alice.token):
        params = {} if token is None else {"access_token": token}
        resp = await client.get(USERINFO, params=params)
        assert resp.status == 401
        assert (await resp.json())["errcode"] == "M_UNKNOWN_TOKEN"


async def test_openid_token_expires(client_for: Any) -> None:
    clock = FakeClock()
    client = await client_for(clock=clock)
    alice = await new_user(client, "alice")
    resp = await client.post(_request_token_path(alice.user_id), json={}, headers=alice.headers)
    token = (await resp.json())["access_token"]
    clock.advance(3601)
    resp = await client.get(USERINFO, params={"access_token": token})
    assert resp.status == 401


async def test_openid_token_for_someone_else_forbidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    resp = await client.post(_request_token_path(bob.user_id), json={}, headers=alice.headers)
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


@FUZZ
@given(data=raw, token=st.text(max_size=20))
@example(data=b"{}", token="\x00")
async def test_openid_endpoints_random_input_never_500(
    client: Client, data: bytes, token: str
) -> None:
    if not hasattr(client, "_fuzz_user"):
        client._fuzz_user = await new_user(client, "fuzzer")  # type: ignore[attr-defined]
    user = client._fuzz_user  # type: ignore[attr-defined]
    await _check(
        await client.post(_request_token_path(user.user_id), data=data, headers=user.headers)
    )
    await _check(await client.get(USERINFO, params={"access_token": token}))
