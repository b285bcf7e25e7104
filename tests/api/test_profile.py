"""Profiles: GET /profile/{userId}, GET/PUT/DELETE /profile/{userId}/{keyName}."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.api.helpers import auth_header, register_user

P = "/_matrix/client/v3/profile/"

Client = TestClient[Any, Any]


async def put(client: Client, token: str, user_id: str, key: str, body: Any) -> Any:
    return await client.put(f"{P}{user_id}/{key}", json=body, headers=auth_header(token))


async def test_new_user_profile_has_localpart_displayname(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.get(P + alice["user_id"])
    assert resp.status == 200
    assert await resp.json() == {"displayname": "alice"}


async def test_set_displayname_then_read_it_back(client: Client) -> None:
    alice = await register_user(client, "alice")
    uid = alice["user_id"]
    resp = await put(client, alice["access_token"], uid, "displayname", {"displayname": "Alice"})
    assert resp.status == 200
    assert await resp.json() == {}
    field = await client.get(f"{P}{uid}/displayname")
    assert await field.json() == {"displayname": "Alice"}
    whole = await client.get(P + uid)
    assert await whole.json() == {"displayname": "Alice"}


async def test_set_avatar_url_accepts_mxc_uri(client: Client) -> None:
    alice = await register_user(client, "alice")
    uid = alice["user_id"]
    resp = await put(client, alice["access_token"], uid, "avatar_url", {"avatar_url": "mxc://a/b"})
    assert resp.status == 200
    field = await client.get(f"{P}{uid}/avatar_url")
    assert await field.json() == {"avatar_url": "mxc://a/b"}


async def test_set_avatar_url_rejects_non_mxc_uri(client: Client) -> None:
    alice = await register_user(client, "alice")
    uid = alice["user_id"]
    body = {"avatar_url": "https://example.org/a.png"}
    resp = await put(client, alice["access_token"], uid, "avatar_url", body)
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_BAD_JSON"


async def test_empty_avatar_url_clears_it(client: Client) -> None:
    alice = await register_user(client, "alice")
    uid, token = alice["user_id"], alice["access_token"]
    await put(client, token, uid, "avatar_url", {"avatar_url": "mxc://a/b"})
    resp = await put(client, token, uid, "avatar_url", {"avatar_url": ""})
    assert resp.status == 200
    field = await client.get(f"{P}{uid}/avatar_url")
    assert field.status == 404


async def test_set_displayname_rejects_too_long(client: Client) -> None:
    alice = await register_user(client, "alice")
    uid = alice["user_id"]
    body = {"displayname": "x" * 257}
    resp = await put(client, alice["access_token"], uid, "displayname", body)
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_BAD_JSON"


async def test_set_displayname_rejects_non_string(client: Client) -> None:
    alice = await register_user(client, "alice")
    uid = alice["user_id"]
    resp = await put(client, alice["access_token"], uid, "displayname", {"displayname": 5})
    assert resp.status == 400


async def test_set_field_requires_key_in_body(client: Client) -> None:
    alice = await register_user(client, "alice")
    uid = alice["user_id"]
    resp = await put(client, alice["access_token"], uid, "displayname", {"other": "x"})
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_MISSING_PARAM"


async def test_set_other_users_profile_is_forbidden(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    body = {"displayname": "Not Bob"}
    resp = await put(client, alice["access_token"], bob["user_id"], "displayname", body)
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


async def test_set_field_requires_access_token(client: Client) -> None:
    resp = await client.put(P + "@alice:test.local/displayname", json={"displayname": "x"})
    assert resp.status == 401


async def test_unknown_user_profile_is_not_found(client: Client) -> None:
    resp = await client.get(P + "@nobody:test.local")
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"
    field = await client.get(P + "@nobody:test.local/displayname")
    assert field.status == 404


async def test_remote_user_profile_is_not_found(client: Client) -> None:
    resp = await client.get(P + "@someone:elsewhere.example")
    assert resp.status == 404


async def test_malformed_user_id_is_invalid_param(client: Client) -> None:
    resp = await client.get(P + "alice")
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_INVALID_PARAM"


async def test_extended_field_set_read_and_delete(client: Client) -> None:
    alice = await register_user(client, "alice")
    uid, token = alice["user_id"], alice["access_token"]
    value = {"colour": "blue", "n": [1, 2]}
    resp = await put(client, token, uid, "org.example.prefs", {"org.example.prefs": value})
    assert resp.status == 200
    await put(client, token, uid, "m.tz", {"m.tz": "Europe/Paris"})
    field = await client.get(f"{P}{uid}/org.example.prefs")
    assert await field.json() == {"org.example.prefs": value}
    whole = await (await client.get(P + uid)).json()
    assert whole == {"displayname": "alice", "org.example.prefs": value, "m.tz": "Europe/Paris"}
    deleted = await client.delete(f"{P}{uid}/org.example.prefs", headers=auth_header(token))
    assert deleted.status == 200
    assert (await client.get(f"{P}{uid}/org.example.prefs")).status == 404
    again = await client.delete(f"{P}{uid}/org.example.prefs", headers=auth_header(token))
    assert again.status == 200


async def test_delete_displayname_removes_it(client: Client) -> None:
    alice = await register_user(client, "alice")
    uid = alice["user_id"]
    resp = await client.delete(f"{P}{uid}/displayname", headers=auth_header(alice["access_token"]))
    assert resp.status == 200
    assert await (await client.get(P + uid)).json() == {}


async def test_delete_other_users_field_is_forbidden(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    url = f"{P}{bob['user_id']}/displayname"
    resp = await client.delete(url, headers=auth_header(alice["access_token"]))
    assert resp.status == 403


async def test_invalid_key_name_is_rejected(client: Client) -> None:
    alice = await register_user(client, "alice")
    uid = alice["user_id"]
    resp = await put(client, alice["access_token"], uid, "Bad Key", {"Bad Key": 1})
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_INVALID_PARAM"


async def test_over_long_key_is_key_too_large(client: Client) -> None:
    alice = await register_user(client, "alice")
    key = "org.example." + "k" * 250
    resp = await put(client, alice["access_token"], alice["user_id"], key, {key: 1})
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_KEY_TOO_LARGE"


async def test_profile_over_64_kib_is_profile_too_large(client: Client) -> None:
    alice = await register_user(client, "alice")
    uid, token = alice["user_id"], alice["access_token"]
    big = "x" * 40_000
    assert (await put(client, token, uid, "org.example.a", {"org.example.a": big})).status == 200
    resp = await put(client, token, uid, "org.example.b", {"org.example.b": big})
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_PROFILE_TOO_LARGE"
    whole = await (await client.get(P + uid)).json()
    assert "org.example.b" not in whole


@pytest.fixture
async def fuzzer(client: Client) -> dict[str, Any]:
    """One user for every example of a Hypothesis test (examples share the client)."""
    user: dict[str, Any] = await register_user(client, "fuzz")
    return user


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@example(key="displayname", body={"displayname": "\x00"})
@given(
    key=st.sampled_from(["displayname", "avatar_url", "m.tz", "org.example.x", "x y", "é"]),
    body=st.dictionaries(
        st.sampled_from(["displayname", "avatar_url", "m.tz", "org.example.x", "x y"]) | st.text(),
        json_values,
        max_size=3,
    )
    | json_values,
)
async def test_put_profile_field_never_fails_with_server_error(
    client: Client, fuzzer: dict[str, Any], key: str, body: Any
) -> None:
    alice = fuzzer
    resp = await put(client, alice["access_token"], alice["user_id"], key, body)
    assert resp.status < 500
