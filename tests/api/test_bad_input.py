"""Bad input gets a Matrix error with the right errcode and status, on both
backends: JSON nested too deep, lone surrogates, NUL, integers beyond 64 bits
and beyond canonical JSON's range, overflowing numbers, bad query strings and
path segments, and admin lookups of rooms that do not exist.

The rules (``homeserver/api/http.py``, ``read_json``):

- not JSON, or nested deeper than ``MAX_JSON_DEPTH``: 400 ``M_NOT_JSON``
  (Synapse answers "Content not JSON" also when its parser runs out of stack);
- JSON that is not an object where an object is expected: 400 ``M_BAD_JSON``
  (Synapse's "Content must be a JSON object");
- NUL or an unpaired surrogate in any string or key, an integer outside the
  signed 64-bit range, a number too large for a float: 400 ``M_BAD_JSON``;
- event content outside canonical JSON's integer range: 400 ``M_BAD_JSON``
  (Synapse's "JSON integer out of range");
- a query integer outside the signed 64-bit range: 400 ``M_INVALID_PARAM``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from homeserver.api.http import MAX_JSON_DEPTH
from tests.api.admin.admin_helpers import A1, A2, Admin, new_admin
from tests.api.helpers import LOGIN, REGISTER, auth_header
from tests.api.rooms_helpers import V3, User

Client = TestClient[Any, Any]


def _nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


async def _post_raw(
    client: Client, path: str, data: bytes, token: str | None = None, method: str = "POST"
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **(auth_header(token) if token else {})}
    resp = await client.request(method, URL(path, encoded=True), data=data, headers=headers)
    return resp.status, await resp.json()


def _errcode(answer: tuple[int, Any]) -> tuple[int, str | None]:
    status, body = answer
    return status, body.get("errcode") if isinstance(body, dict) else None


@pytest.fixture
async def admin(client: Client) -> Admin:
    return await new_admin(client)


@pytest.fixture
async def alice(admin: Admin) -> User:
    return User(
        admin.client, {"user_id": admin.user_id, "access_token": admin.token, "device_id": ""}
    )


# --- nesting -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [LOGIN, REGISTER])
async def test_deep_json_is_not_json_without_login(client: Client, path: str) -> None:
    for body in (_nested_objects(10_000), b"[" * 10_000 + b"]" * 10_000):
        assert _errcode(await _post_raw(client, path, body)) == (400, "M_NOT_JSON")


async def test_nesting_just_over_the_limit_is_not_json(client: Client) -> None:
    assert _errcode(await _post_raw(client, LOGIN, _nested_objects(MAX_JSON_DEPTH + 1))) == (
        400,
        "M_NOT_JSON",
    )
    # At the limit the body is JSON: /login then refuses it for what it says.
    status, code = _errcode(await _post_raw(client, LOGIN, _nested_objects(MAX_JSON_DEPTH)))
    assert status == 400
    assert code not in ("M_NOT_JSON", "M_UNKNOWN")


# --- lone surrogates -----------------------------------------------------------------


async def test_lone_surrogate_in_register_is_bad_json(client: Client) -> None:
    body = b'{"username": "a\\ud800", "password": "pw-123456", "auth": {"type": "m.login.dummy"}}'
    assert _errcode(await _post_raw(client, REGISTER, body)) == (400, "M_BAD_JSON")


async def test_lone_surrogate_in_login_is_bad_json(client: Client) -> None:
    body = b'{"type": "m.login.password", "user": "x", "password": "\\udfff"}'
    assert _errcode(await _post_raw(client, LOGIN, body)) == (400, "M_BAD_JSON")


async def test_lone_surrogate_in_refresh_token_is_bad_json(client: Client) -> None:
    body = b'{"refresh_token": "\\ud800"}'
    assert _errcode(await _post_raw(client, f"{V3}/refresh", body)) == (400, "M_BAD_JSON")


async def test_lone_surrogate_in_device_display_name_is_bad_json(alice: User) -> None:
    answer = await _post_raw(
        alice.client,
        f"{V3}/devices/DEV",
        b'{"display_name": "\\udbff"}',
        alice.token,
        method="PUT",
    )
    assert _errcode(answer) == (400, "M_BAD_JSON")


async def test_lone_surrogate_in_event_content_or_key_is_bad_json(alice: User) -> None:
    room_id = await alice.create_room()
    for body in (b'{"msgtype": "m.text", "body": "\\ud83d"}', b'{"\\ude00": 1}'):
        answer = await _post_raw(
            alice.client,
            f"{V3}/rooms/{room_id}/send/m.room.message/t{len(body)}",
            body,
            alice.token,
            method="PUT",
        )
        assert _errcode(answer) == (400, "M_BAD_JSON")
    # A surrogate pair is a character like any other.
    paired = b'{"msgtype": "m.text", "body": "\\ud83d\\ude00"}'
    status, data = await _post_raw(
        alice.client,
        f"{V3}/rooms/{room_id}/send/m.room.message/pair",
        paired,
        alice.token,
        method="PUT",
    )
    assert status == 200, data


async def test_lone_surrogate_in_account_data_is_bad_json(alice: User) -> None:
    path = f"{V3}/user/{alice.user_id}/account_data/org.example"
    answer = await _post_raw(alice.client, path, b'{"k": ["\\ud800"]}', alice.token, method="PUT")
    assert _errcode(answer) == (400, "M_BAD_JSON")


# --- NUL -----------------------------------------------------------------------------


async def test_nul_in_displayname_is_bad_json(alice: User) -> None:
    path = f"{V3}/profile/{alice.user_id}/displayname"
    answer = await _post_raw(
        alice.client, path, b'{"displayname": "a\\u0000b"}', alice.token, method="PUT"
    )
    assert _errcode(answer) == (400, "M_BAD_JSON")
    _, data = await alice.request("GET", f"/profile/{alice.user_id}/displayname")
    assert data.get("displayname") != "a\x00b"


async def test_nul_in_message_room_name_and_key_is_bad_json(alice: User) -> None:
    room_id = await alice.create_room()
    for i, (path, body) in enumerate(
        [
            (
                f"/rooms/{room_id}/send/m.room.message/n",
                b'{"msgtype": "m.text", "body": "\\u0000"}',
            ),
            (f"/rooms/{room_id}/state/m.room.name/", b'{"name": "x\\u0000"}'),
            (f"/rooms/{room_id}/send/m.room.message/k", b'{"k\\u0000": "v"}'),
        ]
    ):
        answer = await _post_raw(alice.client, V3 + path, body, alice.token, method="PUT")
        assert _errcode(answer) == (400, "M_BAD_JSON"), i
    status, _ = await alice.request("GET", f"/rooms/{room_id}/messages?dir=b&limit=50")
    assert status == 200


async def test_nul_in_register_username_is_bad_json(client: Client) -> None:
    body = b'{"username": "nul\\u0000", "password": "pw-123456", "auth": {"type": "m.login.dummy"}}'
    assert _errcode(await _post_raw(client, REGISTER, body)) == (400, "M_BAD_JSON")


async def test_nul_in_admin_device_id_is_bad_json(admin: Admin) -> None:
    path = f"{A2}/users/{admin.user_id}/devices"
    answer = await _post_raw(admin.client, path, b'{"device_id": "D\\u0000"}', admin.token)
    assert _errcode(answer) == (400, "M_BAD_JSON")


async def test_nul_in_path_or_query_is_invalid_param(alice: User) -> None:
    for path in (f"{V3}/profile/a%00b", f"{V3}/publicRooms?since=a%00b"):
        resp = await alice.client.get(URL(path, encoded=True), headers=alice.headers)
        assert (resp.status, (await resp.json())["errcode"]) == (400, "M_INVALID_PARAM")


# --- numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1, 10**30])
async def test_integer_beyond_64_bits_in_admin_body_is_bad_json(admin: Admin, value: int) -> None:
    body = json.dumps({"uses_allowed": value}).encode()
    answer = await _post_raw(admin.client, f"{A1}/registration_tokens/new", body, admin.token)
    assert _errcode(answer) == (400, "M_BAD_JSON")
    body = json.dumps({"purge_up_to_ts": value}).encode()
    room_id = await User(
        admin.client, {"user_id": admin.user_id, "access_token": admin.token, "device_id": ""}
    ).create_room()
    answer = await _post_raw(admin.client, f"{A1}/purge_history/{room_id}", body, admin.token)
    assert _errcode(answer) == (400, "M_BAD_JSON")


async def test_largest_integer_a_column_holds_in_admin_body_is_stored(admin: Admin) -> None:
    # expiry_time is a 64-bit column, uses_allowed a 32-bit one.
    body = json.dumps({"uses_allowed": 2**31 - 1, "expiry_time": 2**63 - 1}).encode()
    status, data = await _post_raw(admin.client, f"{A1}/registration_tokens/new", body, admin.token)
    assert status == 200, data
    assert (data["uses_allowed"], data["expiry_time"]) == (2**31 - 1, 2**63 - 1)
    body = json.dumps({"uses_allowed": 2**31}).encode()
    path = f"{A1}/registration_tokens/{data['token']}"
    answer = await _post_raw(admin.client, path, body, admin.token, method="PUT")
    assert _errcode(answer) == (400, "M_INVALID_PARAM")


async def test_event_integer_outside_canonical_range_is_bad_json(alice: User) -> None:
    room_id = await alice.create_room()
    for i, value in enumerate([2**53, -(2**53), 2**62]):
        status, data = await alice.request(
            "PUT", f"/rooms/{room_id}/send/org.example/big{i}", {"n": value}
        )
        assert (status, data["errcode"]) == (400, "M_BAD_JSON"), value
    status, data = await alice.request(
        "PUT", f"/rooms/{room_id}/send/org.example/max", {"n": 2**53 - 1}
    )
    assert status == 200, data


async def test_number_overflowing_a_float_is_bad_json(alice: User) -> None:
    path = f"{V3}/user/{alice.user_id}/account_data/org.example"
    answer = await _post_raw(alice.client, path, b'{"n": 1e400}', alice.token, method="PUT")
    assert _errcode(answer) == (400, "M_BAD_JSON")
    answer = await _post_raw(
        alice.client,
        f"{V3}/devices/DEV",
        b'{"auth": {"n": -1e400}}',
        alice.token,
        method="DELETE",
    )
    assert _errcode(answer) == (400, "M_BAD_JSON")


@pytest.mark.parametrize(
    "body",
    [
        b'{"body": 9007199254740992}',
        b'{"body": -9007199254740992}',
        b'{"body": 1.1}',
        b'{"body": NaN}',
    ],
)
async def test_event_body_that_is_a_json_string_is_bad_json(alice: User, body: bytes) -> None:
    # Complement's TestJson/Invalid_numerical_values hands these bodies to Go's
    # json.Marshal, which sends a byte slice as a base64 string: what reaches
    # the server is a JSON string, not an object.
    room_id = await alice.create_room(room_version="6")
    answer = await _post_raw(
        alice.client,
        f"{V3}/rooms/{room_id}/send/complement.dummy/s",
        json.dumps(base64.b64encode(body).decode()).encode(),
        alice.token,
        method="PUT",
    )
    assert _errcode(answer) == (400, "M_BAD_JSON")


@pytest.mark.parametrize("body", [b"[1, 2]", b"42", b"null", b"true", b'"text"'])
async def test_json_that_is_not_an_object_is_bad_json(alice: User, body: bytes) -> None:
    path = f"{V3}/user/{alice.user_id}/account_data/org.example"
    answer = await _post_raw(alice.client, path, body, alice.token, method="PUT")
    assert _errcode(answer) == (400, "M_BAD_JSON")


async def test_special_float_values_are_not_json(alice: User) -> None:
    room_id = await alice.create_room(room_version="6")
    for i, body in enumerate([b'{"body": Infinity}', b'{"body": -Infinity}', b'{"body": NaN}']):
        answer = await _post_raw(
            alice.client,
            f"{V3}/rooms/{room_id}/send/complement.dummy/nan{i}",
            body,
            alice.token,
            method="PUT",
        )
        assert _errcode(answer) == (400, "M_NOT_JSON"), body


# --- query strings and path segments -------------------------------------------------


async def test_query_integers_out_of_range_are_invalid_param(admin: Admin) -> None:
    user = User(
        admin.client, {"user_id": admin.user_id, "access_token": admin.token, "device_id": ""}
    )
    room_id = await user.create_room()
    for path in (
        f"{V3}/rooms/{room_id}/messages?dir=b&limit={2**64}",
        f"{V3}/notifications?from={2**64}",
        f"{V3}/sync?timeout={2**64}",
        f"{V3}/sync?timeout=-1",
        f"{V3}/events?timeout={2**64}",  # waited for ever
        f"{A2}/users?from={2**64}",
        f"{A1}/event_reports?from={2**64}",
        f"{A1}/users/{admin.user_id}/sent_invite_count?from_ts={2**64}",
        f"{A1}/rooms?from={2**70}",
        f"{A1}/rooms?from=-1",
        f"{A1}/rooms?limit={-(2**70)}",
        f"{A1}/rooms/{room_id}/timestamp_to_event?ts={2**64}",
    ):
        async with asyncio.timeout(10):
            resp = await admin.client.get(URL(path, encoded=True), headers=auth_header(admin.token))
            assert (resp.status, (await resp.json())["errcode"]) == (400, "M_INVALID_PARAM"), path


async def test_event_report_id_beyond_64_bits_is_not_found(admin: Admin) -> None:
    status, data = await admin.request("GET", f"{A1}/event_reports/{2**70}")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")


@pytest.mark.parametrize(
    "segment", ["%ff%fe", "%ED%A0%80", "%zz", "%F0%9F%98%80", "x" * 5000, "%2F"]
)
async def test_odd_path_segments_get_a_matrix_error(admin: Admin, segment: str) -> None:
    for path in (
        f"{V3}/rooms/{segment}/messages",
        f"{V3}/profile/{segment}",
        f"{A1}/rooms/{segment}",
        f"{A2}/users/{segment}",
    ):
        resp = await admin.client.get(URL(path, encoded=True), headers=auth_header(admin.token))
        assert 400 <= resp.status < 500, (path, resp.status)
        assert isinstance((await resp.json())["errcode"], str)


# --- admin lookups of rooms that do not exist ----------------------------------------

_NO_ROOM = "!nosuchroom:test.local"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"{A1}/rooms/{_NO_ROOM}", None),
        ("GET", f"{A1}/rooms/{_NO_ROOM}/members", None),
        ("GET", f"{A1}/rooms/{_NO_ROOM}/state", None),
        ("GET", f"{A1}/rooms/{_NO_ROOM}/messages", None),
        ("GET", f"{A1}/rooms/{_NO_ROOM}/forward_extremities", None),
        ("DELETE", f"{A1}/rooms/{_NO_ROOM}/forward_extremities", None),
        ("GET", f"{A1}/rooms/{_NO_ROOM}/timestamp_to_event?ts=0", None),
        ("GET", f"{A2}/rooms/{_NO_ROOM}/delete_status", None),
        ("POST", f"{A1}/rooms/{_NO_ROOM}/make_room_admin", {}),
        ("POST", f"{A1}/purge_history/{_NO_ROOM}", {"purge_up_to_ts": 1}),
        (
            "GET",
            f"{A1}/rooms/{_NO_ROOM}/context/$abcdefabcdefabcdefabcdefabcdefabcdefabcdefa",
            None,
        ),
        ("POST", f"{A1}/join/{_NO_ROOM}", {"user_id": "@root:test.local"}),
        ("GET", f"{A1}/rooms/%23nosuch:test.local/forward_extremities", None),
    ],
)
async def test_admin_lookup_of_unknown_room_is_not_found(
    admin: Admin, method: str, path: str, body: Any
) -> None:
    resp = await admin.client.request(
        method, URL(path, encoded=True), json=body, headers=auth_header(admin.token)
    )
    assert (resp.status, (await resp.json())["errcode"]) == (404, "M_NOT_FOUND")


async def test_admin_room_routes_that_synapse_answers_for_unknown_rooms(admin: Admin) -> None:
    # As Synapse: a room can be blocked before it is known, its media listed
    # and quarantined (none), and deleting it is a no-op.
    assert await admin.ok("GET", f"{A1}/rooms/{_NO_ROOM}/block") == {"block": False}
    assert await admin.ok("GET", f"{A1}/room/{_NO_ROOM}/media") == {"local": [], "remote": []}
    deleted = await admin.ok("DELETE", f"{A1}/rooms/{_NO_ROOM}", {})
    assert deleted["kicked_users"] == []
