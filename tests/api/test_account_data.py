"""Client Config: GET/PUT /user/{userId}/account_data/{type} and the per-room form."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from homeserver.api.http import SERVICES_KEY
from tests.api.helpers import auth_header, register_user

U = "/_matrix/client/v3/user/"
ROOM = "!room:test.local"

Client = TestClient[Any, Any]


def global_url(user_id: str, data_type: str) -> str:
    return f"{U}{user_id}/account_data/{data_type}"


def room_url(user_id: str, room_id: str, data_type: str) -> str:
    return f"{U}{user_id}/rooms/{room_id}/account_data/{data_type}"


async def test_global_account_data_round_trips(client: Client) -> None:
    alice = await register_user(client, "alice")
    h = auth_header(alice["access_token"])
    url = global_url(alice["user_id"], "org.example.settings")
    resp = await client.put(url, json={"theme": "dark", "n": [1, {"x": None}]}, headers=h)
    assert resp.status == 200
    assert await resp.json() == {}
    got = await client.get(url, headers=h)
    assert got.status == 200
    assert await got.json() == {"theme": "dark", "n": [1, {"x": None}]}


async def test_put_replaces_previous_content(client: Client) -> None:
    alice = await register_user(client, "alice")
    h = auth_header(alice["access_token"])
    url = global_url(alice["user_id"], "m.direct")
    await client.put(url, json={"@bob:test.local": ["!a:test.local"]}, headers=h)
    await client.put(url, json={}, headers=h)
    assert await (await client.get(url, headers=h)).json() == {}


async def test_room_account_data_is_separate_from_global(client: Client) -> None:
    alice = await register_user(client, "alice")
    h = auth_header(alice["access_token"])
    uid = alice["user_id"]
    await client.put(room_url(uid, ROOM, "m.tag"), json={"tags": {"u.work": {}}}, headers=h)
    room = await client.get(room_url(uid, ROOM, "m.tag"), headers=h)
    assert await room.json() == {"tags": {"u.work": {}}}
    assert (await client.get(global_url(uid, "m.tag"), headers=h)).status == 404
    other_room = await client.get(room_url(uid, "!other:test.local", "m.tag"), headers=h)
    assert other_room.status == 404


async def test_get_missing_account_data_is_not_found(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.get(
        global_url(alice["user_id"], "org.example.none"), headers=auth_header(alice["access_token"])
    )
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"


@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("scope", ["global", "room"])
async def test_other_users_account_data_is_forbidden(
    client: Client, method: str, scope: str
) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    if scope == "global":
        url = global_url(bob["user_id"], "t.x")
    else:
        url = room_url(bob["user_id"], ROOM, "t.x")
    resp = await client.request(
        method, url, json={"a": 1}, headers=auth_header(alice["access_token"])
    )
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


@pytest.mark.parametrize("data_type", ["m.fully_read", "m.push_rules"])
@pytest.mark.parametrize("scope", ["global", "room"])
async def test_server_managed_types_are_rejected(
    client: Client, data_type: str, scope: str
) -> None:
    alice = await register_user(client, "alice")
    uid = alice["user_id"]
    url = global_url(uid, data_type) if scope == "global" else room_url(uid, ROOM, data_type)
    resp = await client.put(
        url, json={"event_id": "$x"}, headers=auth_header(alice["access_token"])
    )
    assert resp.status == 405
    assert (await resp.json())["errcode"] == "M_BAD_JSON"


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"not json", b""])
async def test_put_requires_json_object(client: Client, body: bytes) -> None:
    alice = await register_user(client, "alice")
    url = global_url(alice["user_id"], "t.x")
    resp = await client.put(url, data=body, headers=auth_header(alice["access_token"]))
    assert resp.status == 400
    assert (await resp.json())["errcode"] in ("M_NOT_JSON", "M_BAD_JSON")


async def test_malformed_room_id_is_invalid_param(client: Client) -> None:
    alice = await register_user(client, "alice")
    h = auth_header(alice["access_token"])
    url = room_url(alice["user_id"], "not-a-room", "t.x")
    put = await client.put(url, json={}, headers=h)
    assert put.status == 400
    assert (await put.json())["errcode"] == "M_INVALID_PARAM"
    get = await client.get(url, headers=h)
    assert get.status == 400


async def test_account_data_requires_access_token(client: Client) -> None:
    resp = await client.get(global_url("@alice:test.local", "t.x"))
    assert resp.status == 401
    assert (await resp.json())["errcode"] == "M_MISSING_TOKEN"


async def test_put_advances_account_data_stream(client: Client) -> None:
    alice = await register_user(client, "alice")
    h = auth_header(alice["access_token"])
    assert client.app is not None
    svc = client.app[SERVICES_KEY]
    before = await svc.account_data.current_position()
    await client.put(global_url(alice["user_id"], "t.a"), json={"v": 1}, headers=h)
    await client.put(room_url(alice["user_id"], ROOM, "t.b"), json={"v": 2}, headers=h)
    changes = await svc.account_data.changes_since(alice["user_id"], before)
    assert [(c.room_id, c.type, c.content) for c in changes] == [
        (None, "t.a", {"v": 1}),
        (ROOM, "t.b", {"v": 2}),
    ]
    assert await svc.account_data.current_position() == changes[-1].stream_id


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
@example(data_type="\x00", body={}, in_room=False)
@given(
    data_type=st.text(min_size=1, max_size=300).filter(lambda t: "/" not in t and t not in ".."),
    body=json_values,
    in_room=st.booleans(),
)
async def test_put_account_data_never_fails_with_server_error(
    client: Client, fuzzer: dict[str, Any], data_type: str, body: Any, in_room: bool
) -> None:
    uid = fuzzer["user_id"]
    url = room_url(uid, ROOM, "{t}") if in_room else global_url(uid, "{t}")
    path = url.replace("{t}", quote(data_type, safe=""))
    resp = await client.put(path, json=body, headers=auth_header(fuzzer["access_token"]))
    assert resp.status < 500
