"""Dehydrated devices (MSC3814) and the to-device message size limit."""

from __future__ import annotations

import weakref
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import auth_header, register_user

Client = TestClient[Any, Any]

DEHYDRATED = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"
V3 = "/_matrix/client/v3"


async def call(
    client: Client, user: dict[str, Any], method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    resp = await client.request(method, path, json=body, headers=auth_header(user["access_token"]))
    return resp.status, await resp.json()


def dehydrated_body(user: dict[str, Any], device_id: str, curve: str = "CURVE") -> dict[str, Any]:
    return {
        "device_id": device_id,
        "device_data": {"algorithm": "org.matrix.msc3814.v1.olm", "device_pickle": "PICKLE"},
        "initial_device_display_name": "Dehydrated device",
        "device_keys": {
            "user_id": user["user_id"],
            "device_id": device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {f"curve25519:{device_id}": curve, f"ed25519:{device_id}": "ED"},
            "signatures": {user["user_id"]: {f"ed25519:{device_id}": "sig"}},
            "dehydrated": True,
        },
        "one_time_keys": {"signed_curve25519:AAAA": {"key": "otk", "signatures": {}}},
        "fallback_keys": {"signed_curve25519:BBBB": {"key": "fb", "fallback": True}},
    }


async def query_keys(client: Client, asker: dict[str, Any], user_id: str) -> dict[str, Any]:
    status, body = await call(
        client, asker, "POST", V3 + "/keys/query", {"device_keys": {user_id: []}}
    )
    assert status == 200, body
    keys: dict[str, Any] = body["device_keys"].get(user_id, {})
    return keys


async def send_to_device(
    client: Client, sender: dict[str, Any], txn: str, messages: Any
) -> tuple[int, Any]:
    return await call(
        client,
        sender,
        "PUT",
        f"{V3}/sendToDevice/m.room.encrypted/{txn}",
        {"messages": messages},
    )


async def test_create_then_get_returns_device_data(client: Client) -> None:
    alice = await register_user(client, "alice")
    status, body = await call(client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1"))
    assert status == 200, body
    assert body == {"device_id": "DEHY1"}
    status, body = await call(client, alice, "GET", DEHYDRATED)
    assert status == 200, body
    assert body == {
        "device_id": "DEHY1",
        "device_data": {"algorithm": "org.matrix.msc3814.v1.olm", "device_pickle": "PICKLE"},
    }


async def test_get_without_dehydrated_device_is_not_found(client: Client) -> None:
    alice = await register_user(client, "alice")
    status, body = await call(client, alice, "GET", DEHYDRATED)
    assert status == 404
    assert body["errcode"] == "M_NOT_FOUND"
    status, body = await call(client, alice, "DELETE", DEHYDRATED)
    assert status == 404
    assert body["errcode"] == "M_NOT_FOUND"


async def test_create_without_device_id_generates_one(client: Client) -> None:
    alice = await register_user(client, "alice")
    body = {"device_data": {"algorithm": "a"}}
    status, created = await call(client, alice, "PUT", DEHYDRATED, body)
    assert status == 200, created
    status, got = await call(client, alice, "GET", DEHYDRATED)
    assert got["device_id"] == created["device_id"]
    assert created["device_id"] != alice["device_id"]


async def test_dehydrated_device_keys_visible_to_other_users(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    status, _ = await call(client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1"))
    assert status == 200
    keys = await query_keys(client, bob, alice["user_id"])
    assert keys["DEHY1"]["keys"] == {"curve25519:DEHY1": "CURVE", "ed25519:DEHY1": "ED"}
    assert keys["DEHY1"]["dehydrated"] is True
    assert keys["DEHY1"]["unsigned"] == {"device_display_name": "Dehydrated device"}
    status, claimed = await call(
        client,
        bob,
        "POST",
        V3 + "/keys/claim",
        {"one_time_keys": {alice["user_id"]: {"DEHY1": "signed_curve25519"}}},
    )
    assert status == 200, claimed
    assert claimed["one_time_keys"][alice["user_id"]]["DEHY1"] == {
        "signed_curve25519:AAAA": {"key": "otk", "signatures": {}}
    }


async def test_replace_deletes_previous_device_and_its_keys(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    await call(client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1"))
    status, body = await call(
        client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY2", curve="C2")
    )
    assert status == 200, body
    keys = await query_keys(client, bob, alice["user_id"])
    assert "DEHY1" not in keys
    assert keys["DEHY2"]["keys"]["curve25519:DEHY2"] == "C2"
    status, devices = await call(client, alice, "GET", V3 + "/devices")
    ids = {d["device_id"] for d in devices["devices"]}
    assert ids == {alice["device_id"], "DEHY2"}
    status, body = await call(client, alice, "GET", DEHYDRATED)
    assert body["device_id"] == "DEHY2"


async def test_replace_with_same_id_accepts_new_identity_keys(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    await call(client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1"))
    status, body = await call(
        client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1", curve="NEW")
    )
    assert status == 200, body
    keys = await query_keys(client, bob, alice["user_id"])
    assert keys["DEHY1"]["keys"]["curve25519:DEHY1"] == "NEW"


async def test_delete_removes_device_and_keys(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    await call(client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1"))
    status, body = await call(client, alice, "DELETE", DEHYDRATED)
    assert status == 200, body
    assert body == {"device_id": "DEHY1"}
    status, body = await call(client, alice, "GET", DEHYDRATED)
    assert status == 404
    assert "DEHY1" not in await query_keys(client, bob, alice["user_id"])
    status, devices = await call(client, alice, "GET", V3 + "/devices")
    assert [d["device_id"] for d in devices["devices"]] == [alice["device_id"]]


async def test_deleting_through_devices_api_forgets_dehydrated_device(client: Client) -> None:
    alice = await register_user(client, "alice")
    await call(client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1"))
    status, body = await call(
        client,
        alice,
        "POST",
        V3 + "/delete_devices",
        {
            "devices": ["DEHY1"],
            "auth": {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "alice"},
                "password": "password-123",
            },
        },
    )
    assert status == 200, body
    status, body = await call(client, alice, "GET", DEHYDRATED)
    assert status == 404


async def test_device_id_of_a_real_device_refused(client: Client) -> None:
    alice = await register_user(client, "alice")
    status, body = await call(
        client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, alice["device_id"])
    )
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"
    # The real device's session is untouched.
    status, _ = await call(client, alice, "GET", V3 + "/account/whoami")
    assert status == 200


async def test_bad_keys_leave_previous_device_in_place(client: Client) -> None:
    alice = await register_user(client, "alice")
    await call(client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1"))
    bad = dehydrated_body(alice, "DEHY2")
    bad["device_keys"]["device_id"] = "OTHER"
    status, body = await call(client, alice, "PUT", DEHYDRATED, bad)
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"
    status, body = await call(client, alice, "GET", DEHYDRATED)
    assert body["device_id"] == "DEHY1"


async def test_events_paged_and_deleted_after_next_batch(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    await call(client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1"))
    olm = {
        "algorithm": "m.olm.v1.curve25519-aes-sha2",
        "sender_key": "BOBCURVE",
        "ciphertext": {"CURVE": {"type": 0, "body": "opaque"}},
    }
    status, body = await send_to_device(client, bob, "t1", {alice["user_id"]: {"DEHY1": olm}})
    assert status == 200, body
    events_path = f"{DEHYDRATED}/DEHY1/events"
    status, page = await call(client, alice, "POST", events_path, {})
    assert status == 200, page
    assert page["events"] == [
        {"type": "m.room.encrypted", "sender": bob["user_id"], "content": olm}
    ]
    # Not acknowledged: read again from the start, still there.
    status, again = await call(client, alice, "POST", events_path, {})
    assert again["events"] == page["events"]
    status, rest = await call(
        client, alice, "POST", events_path, {"next_batch": page["next_batch"]}
    )
    assert status == 200, rest
    assert rest["events"] == []
    status, fresh = await call(client, alice, "POST", events_path, {})
    assert fresh["events"] == []


async def test_events_pages_hold_at_most_one_hundred(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    await call(client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1"))
    for n in range(123):
        status, _ = await send_to_device(
            client, bob, f"t{n}", {alice["user_id"]: {"DEHY1": {"n": n}}}
        )
        assert status == 200
    events_path = f"{DEHYDRATED}/DEHY1/events"
    status, first = await call(client, alice, "POST", events_path, {})
    assert len(first["events"]) == 100
    status, second = await call(
        client, alice, "POST", events_path, {"next_batch": first["next_batch"]}
    )
    assert len(second["events"]) == 23
    got = [e["content"]["n"] for e in first["events"] + second["events"]]
    assert got == list(range(123))


async def test_events_for_another_device_forbidden(client: Client) -> None:
    alice = await register_user(client, "alice")
    status, body = await call(client, alice, "POST", f"{DEHYDRATED}/DEHY1/events", {})
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"
    await call(client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1"))
    status, body = await call(
        client, alice, "POST", f"{DEHYDRATED}/{alice['device_id']}/events", {}
    )
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"


async def test_bad_bodies_rejected_with_matrix_errors(client: Client) -> None:
    alice = await register_user(client, "alice")
    cases: list[tuple[Any, str]] = [
        ({}, "M_MISSING_PARAM"),
        ({"device_data": "x"}, "M_BAD_JSON"),
        ({"device_data": {}}, "M_BAD_JSON"),
        ({"device_data": {"algorithm": 1}}, "M_BAD_JSON"),
        ({"device_data": {"algorithm": "a"}, "device_id": 5}, "M_BAD_JSON"),
        ({"device_data": {"algorithm": "a"}, "device_id": ""}, "M_INVALID_PARAM"),
        ({"device_data": {"algorithm": "a"}, "device_keys": []}, "M_BAD_JSON"),
        ({"device_data": {"algorithm": "a"}, "one_time_keys": {"nocolon": "k"}}, "M_INVALID_PARAM"),
        (
            # NUL in any request string is refused as bad JSON (api/http.py).
            {"device_data": {"algorithm": "a"}, "initial_device_display_name": "a\x00b"},
            "M_BAD_JSON",
        ),
    ]
    for body, errcode in cases:
        status, got = await call(client, alice, "PUT", DEHYDRATED, body)
        assert (status, got.get("errcode")) == (400, errcode), body
    await call(client, alice, "PUT", DEHYDRATED, dehydrated_body(alice, "DEHY1"))
    for token, errcode in [
        (5, "M_BAD_JSON"),
        ("abc", "M_INVALID_PARAM"),
        ("9" * 40, "M_INVALID_PARAM"),
    ]:
        status, got = await call(
            client, alice, "POST", f"{DEHYDRATED}/DEHY1/events", {"next_batch": token}
        )
        assert (status, got.get("errcode")) == (400, errcode), token


async def test_versions_advertise_msc3814(client: Client) -> None:
    resp = await client.get("/_matrix/client/versions")
    body = await resp.json()
    assert body["unstable_features"]["org.matrix.msc3814"] is True


async def test_to_device_content_over_limit_is_too_large(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    big = {"ciphertext": "x" * 70_000}
    status, body = await send_to_device(client, alice, "big", {bob["user_id"]: {"*": big}})
    assert status == 413
    assert body["errcode"] == "M_TOO_LARGE"
    fits = {"ciphertext": "x" * 60_000}
    status, body = await send_to_device(client, alice, "fits", {bob["user_id"]: {"*": fits}})
    assert status == 200, body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)

#: One registered user per app: registering per example would dominate the run time.
_FUZZ_USERS: weakref.WeakKeyDictionary[Client, dict[str, Any]] = weakref.WeakKeyDictionary()


async def _user(client: Client) -> dict[str, Any]:
    user = _FUZZ_USERS.get(client)
    if user is None:
        user = _FUZZ_USERS[client] = await register_user(client, "fuzzer")
    return user


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    method_path=st.sampled_from(
        [
            ("PUT", DEHYDRATED),
            ("POST", DEHYDRATED + "/DEHY1/events"),
            ("POST", DEHYDRATED + "/%00/events"),
        ]
    ),
    body=st.dictionaries(
        st.sampled_from(
            [
                "device_id",
                "device_data",
                "initial_device_display_name",
                "device_keys",
                "one_time_keys",
                "fallback_keys",
                "next_batch",
            ]
        ),
        json_values
        | st.dictionaries(st.sampled_from(["algorithm", "x", "a:b"]), json_values, max_size=3),
        max_size=4,
    )
    | json_values,
)
async def test_random_bodies_never_give_server_error(
    client: Client, method_path: tuple[str, str], body: Any
) -> None:
    user = await _user(client)
    method, path = method_path
    status, _ = await call(client, user, method, path, body)
    assert status < 500
