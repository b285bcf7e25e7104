"""POST /keys/upload, /keys/query, /keys/claim and GET /keys/changes."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeserver.services.clock import FakeClock
from tests.api.helpers import auth_header, register_user

Client = TestClient[Any, Any]

KEYS = "/_matrix/client/v3/keys"


def device_keys(user: dict[str, Any], ed: str = "ED", curve: str = "CURVE") -> dict[str, Any]:
    device = user["device_id"]
    return {
        "user_id": user["user_id"],
        "device_id": device,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"curve25519:{device}": curve, f"ed25519:{device}": ed},
        "signatures": {user["user_id"]: {f"ed25519:{device}": "sig"}},
    }


async def post(client: Client, user: dict[str, Any], path: str, body: Any) -> tuple[int, Any]:
    resp = await client.post(KEYS + path, json=body, headers=auth_header(user["access_token"]))
    return resp.status, await resp.json()


async def test_upload_device_keys_reported_by_query_with_display_name(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    resp = await client.put(
        f"/_matrix/client/v3/devices/{alice['device_id']}",
        json={"display_name": "Alice's phone"},
        headers=auth_header(alice["access_token"]),
    )
    assert resp.status == 200
    status, body = await post(client, alice, "/upload", {"device_keys": device_keys(alice)})
    assert status == 200, body
    assert body == {"one_time_key_counts": {"signed_curve25519": 0}}

    status, body = await post(client, bob, "/query", {"device_keys": {alice["user_id"]: []}})
    assert status == 200, body
    got = body["device_keys"][alice["user_id"]][alice["device_id"]]
    assert got["keys"] == device_keys(alice)["keys"]
    assert got["signatures"] == device_keys(alice)["signatures"]
    assert got["unsigned"] == {"device_display_name": "Alice's phone"}
    assert body["failures"] == {}


async def test_upload_device_keys_rejected_for_other_device(client: Client) -> None:
    alice = await register_user(client, "alice")
    keys = device_keys(alice)
    keys["device_id"] = "OTHER"
    status, body = await post(client, alice, "/upload", {"device_keys": keys})
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_upload_device_keys_rejected_for_other_user(client: Client) -> None:
    alice = await register_user(client, "alice")
    keys = device_keys(alice)
    keys["user_id"] = "@mallory:test.local"
    status, body = await post(client, alice, "/upload", {"device_keys": keys})
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_upload_changed_device_keys_replaces_them_and_tells_room_members(
    client: Client,
) -> None:
    # A client may re-upload different keys for its device (Synapse accepts
    # them); members sharing a room must learn that the device changed.
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    await _shared_room(client, alice, bob)
    status, _ = await post(client, alice, "/upload", {"device_keys": device_keys(alice)})
    assert status == 200
    from tests.api.helpers import services_of

    svc = services_of(client)
    async with svc.db.read() as conn:
        before = await svc.sync.tokens.current_token(conn)

    async def changed_since_before() -> list[str]:
        async with svc.db.read() as conn:
            now = await svc.sync.tokens.current_token(conn)
        resp = await client.get(
            KEYS + "/changes",
            params={"from": before.encode(), "to": now.encode()},
            headers=auth_header(bob["access_token"]),
        )
        body = await resp.json()
        assert resp.status == 200, body
        changed: list[str] = body["changed"]
        return changed

    same, _ = await post(client, alice, "/upload", {"device_keys": device_keys(alice)})
    assert same == 200
    assert await changed_since_before() == []

    new_keys = device_keys(alice, ed="OTHER", curve="OTHER_CURVE")
    status, body = await post(client, alice, "/upload", {"device_keys": new_keys})
    assert status == 200, body
    _, body = await post(client, bob, "/query", {"device_keys": {alice["user_id"]: []}})
    assert body["device_keys"][alice["user_id"]][alice["device_id"]]["keys"] == new_keys["keys"]
    assert await changed_since_before() == [alice["user_id"]]


async def test_query_unknown_user_gives_empty_devices(client: Client) -> None:
    alice = await register_user(client, "alice")
    status, body = await post(client, alice, "/query", {"device_keys": {"@nobody:test.local": []}})
    assert status == 200
    assert body["device_keys"] == {"@nobody:test.local": {}}


async def test_query_remote_user_reported_as_failure(client: Client) -> None:
    alice = await register_user(client, "alice")
    status, body = await post(client, alice, "/query", {"device_keys": {"@bob:elsewhere": []}})
    assert status == 200
    assert "elsewhere" in body["failures"]


async def test_query_restricted_to_named_devices(client: Client) -> None:
    alice = await register_user(client, "alice")
    await post(client, alice, "/upload", {"device_keys": device_keys(alice)})
    status, body = await post(
        client, alice, "/query", {"device_keys": {alice["user_id"]: ["NOPE"]}}
    )
    assert status == 200
    assert body["device_keys"][alice["user_id"]] == {}


async def test_one_time_keys_counted_and_claimed_once(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    otks = {f"signed_curve25519:K{i}": {"key": f"key{i}", "signatures": {}} for i in range(3)}
    status, body = await post(client, alice, "/upload", {"one_time_keys": otks})
    assert status == 200
    assert body["one_time_key_counts"] == {"signed_curve25519": 3}

    want = {"one_time_keys": {alice["user_id"]: {alice["device_id"]: "signed_curve25519"}}}
    seen = set()
    for _ in range(3):
        status, body = await post(client, bob, "/claim", want)
        assert status == 200, body
        ((key_id, key),) = body["one_time_keys"][alice["user_id"]][alice["device_id"]].items()
        assert otks[key_id] == key
        seen.add(key_id)
    assert seen == set(otks)
    status, body = await post(client, bob, "/claim", want)
    assert body["one_time_keys"] == {}
    _, counts = await post(client, alice, "/upload", {})
    assert counts["one_time_key_counts"] == {"signed_curve25519": 0}


async def test_one_time_keys_are_claimed_in_upload_order(
    client_for: Callable[..., Any], clock: FakeClock
) -> None:
    # MSC4225 (Complement TestKeyClaimOrdering): oldest upload first, then
    # key id within one upload, whatever the key ids say.
    client = await client_for(clock=clock)
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    for batch in (["9"], ["5", "3"], ["1"]):
        otks = {f"signed_curve25519:{k}": {"key": f"key{k}"} for k in batch}
        status, _ = await post(client, alice, "/upload", {"one_time_keys": otks})
        assert status == 200
        clock.advance(1)
    want = {"one_time_keys": {alice["user_id"]: {alice["device_id"]: "signed_curve25519"}}}
    claimed = []
    for _ in range(4):
        status, body = await post(client, bob, "/claim", want)
        assert status == 200, body
        claimed.extend(body["one_time_keys"][alice["user_id"]][alice["device_id"]])
    assert claimed == [f"signed_curve25519:{k}" for k in ["9", "3", "5", "1"]]


async def test_one_time_key_reuploaded_with_other_content_rejected(client: Client) -> None:
    alice = await register_user(client, "alice")
    await post(client, alice, "/upload", {"one_time_keys": {"curve25519:A": "one"}})
    same, _ = await post(client, alice, "/upload", {"one_time_keys": {"curve25519:A": "one"}})
    assert same == 200
    status, body = await post(client, alice, "/upload", {"one_time_keys": {"curve25519:A": "two"}})
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_concurrent_claims_never_share_a_key(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    otks = {f"signed_curve25519:K{i:02}": {"key": f"k{i}"} for i in range(10)}
    await post(client, alice, "/upload", {"one_time_keys": otks})
    want = {"one_time_keys": {alice["user_id"]: {alice["device_id"]: "signed_curve25519"}}}
    results = await asyncio.gather(*(post(client, bob, "/claim", want) for _ in range(15)))
    claimed = [
        key_id
        for status, body in results
        if status == 200 and body["one_time_keys"]
        for key_id in body["one_time_keys"][alice["user_id"]][alice["device_id"]]
    ]
    assert all(status == 200 for status, _ in results)
    assert sorted(claimed) == sorted(otks)


async def test_fallback_key_returned_when_one_time_keys_run_out(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    fallback = {"signed_curve25519:F1": {"key": "fb", "fallback": True}}
    await post(client, alice, "/upload", {"fallback_keys": fallback})
    svc_types = await _unused_fallback_types(client, alice)
    assert svc_types == ["signed_curve25519"]
    want = {"one_time_keys": {alice["user_id"]: {alice["device_id"]: "signed_curve25519"}}}
    for _ in range(2):
        status, body = await post(client, bob, "/claim", want)
        assert status == 200
        assert body["one_time_keys"][alice["user_id"]][alice["device_id"]] == fallback
    assert await _unused_fallback_types(client, alice) == []
    # Re-uploading the same key keeps it used; a new one is fresh.
    await post(client, alice, "/upload", {"fallback_keys": fallback})
    assert await _unused_fallback_types(client, alice) == []
    await post(client, alice, "/upload", {"fallback_keys": {"signed_curve25519:F2": "new"}})
    assert await _unused_fallback_types(client, alice) == ["signed_curve25519"]


async def _unused_fallback_types(client: Client, user: dict[str, Any]) -> list[str]:
    from tests.api.helpers import services_of

    return await services_of(client).e2e_keys.unused_fallback_key_types(
        user["user_id"], user["device_id"]
    )


async def test_deleting_a_device_deletes_its_keys(client: Client) -> None:
    alice = await register_user(client, "alice")
    await post(
        client,
        alice,
        "/upload",
        {"device_keys": device_keys(alice), "one_time_keys": {"curve25519:A": "one"}},
    )
    resp = await client.delete(
        f"/_matrix/client/v3/devices/{alice['device_id']}",
        json={
            "auth": {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": alice["user_id"]},
                "password": "password-123",
            }
        },
        headers=auth_header(alice["access_token"]),
    )
    assert resp.status == 200, await resp.json()
    from tests.api.helpers import services_of

    svc = services_of(client)
    assert await svc.e2e_keys.otk_counts(alice["user_id"], alice["device_id"]) == {
        "signed_curve25519": 0
    }
    bob = await register_user(client, "bob")
    _, body = await post(client, bob, "/query", {"device_keys": {alice["user_id"]: []}})
    assert body["device_keys"][alice["user_id"]] == {}


async def test_keys_changes_reports_room_members_whose_keys_changed(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    carol = await register_user(client, "carol")
    room_id = await _shared_room(client, alice, bob)
    from tests.api.helpers import services_of

    svc = services_of(client)
    async with svc.db.read() as conn:
        before = await svc.sync.tokens.current_token(conn)
    await post(client, bob, "/upload", {"device_keys": device_keys(bob)})
    await post(client, carol, "/upload", {"device_keys": device_keys(carol)})
    async with svc.db.read() as conn:
        after = await svc.sync.tokens.current_token(conn)
    resp = await client.get(
        KEYS + "/changes",
        params={"from": before.encode(), "to": after.encode()},
        headers=auth_header(alice["access_token"]),
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["changed"] == [bob["user_id"]]
    assert body["left"] == []
    assert room_id


async def test_keys_changes_reports_users_who_left(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    room_id = await _shared_room(client, alice, bob)
    from tests.api.helpers import services_of

    svc = services_of(client)
    async with svc.db.read() as conn:
        before = await svc.sync.tokens.current_token(conn)
    resp = await client.post(
        f"/_matrix/client/v3/rooms/{room_id}/leave",
        json={},
        headers=auth_header(bob["access_token"]),
    )
    assert resp.status == 200, await resp.json()
    async with svc.db.read() as conn:
        after = await svc.sync.tokens.current_token(conn)
    resp = await client.get(
        KEYS + "/changes",
        params={"from": before.encode(), "to": after.encode()},
        headers=auth_header(alice["access_token"]),
    )
    body = await resp.json()
    assert body["left"] == [bob["user_id"]]


async def test_keys_changes_rejects_bad_token(client: Client) -> None:
    alice = await register_user(client, "alice")
    resp = await client.get(
        KEYS + "/changes",
        params={"from": "garbage", "to": "s1"},
        headers=auth_header(alice["access_token"]),
    )
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_INVALID_PARAM"


async def _shared_room(client: Client, alice: dict[str, Any], bob: dict[str, Any]) -> str:
    resp = await client.post(
        "/_matrix/client/v3/createRoom",
        json={"invite": [bob["user_id"]]},
        headers=auth_header(alice["access_token"]),
    )
    body = await resp.json()
    assert resp.status == 200, body
    room_id: str = body["room_id"]
    resp = await client.post(
        f"/_matrix/client/v3/rooms/{room_id}/join",
        json={},
        headers=auth_header(bob["access_token"]),
    )
    assert resp.status == 200, await resp.json()
    return room_id


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(["/upload", "/query", "/claim"]),
    body=st.dictionaries(
        st.sampled_from(["device_keys", "one_time_keys", "fallback_keys", "timeout", "x"]),
        json_values
        | st.dictionaries(st.text(max_size=20), json_values, max_size=3)
        | st.dictionaries(
            st.sampled_from(["@fuzzer0:test.local", "@x:test.local", "bad", "@a:b"]),
            st.lists(st.text(max_size=5), max_size=2)
            | st.dictionaries(st.text(max_size=5), json_values, max_size=2),
            max_size=2,
        ),
        max_size=3,
    )
    | json_values,
)
async def test_random_bodies_never_give_server_error(client: Client, path: str, body: Any) -> None:
    alice = await _user(client)
    status, _ = await post(client, alice, path, body)
    assert status < 500


#: One registered user per app: registering per example would dominate the run time.
_FUZZ_USERS: weakref.WeakKeyDictionary[Client, dict[str, Any]] = weakref.WeakKeyDictionary()


async def _user(client: Client) -> dict[str, Any]:
    user = _FUZZ_USERS.get(client)
    if user is None:
        user = _FUZZ_USERS[client] = await register_user(client, "fuzzer")
    return user


async def test_unstorable_text_in_ids_rejected_not_crashing(client: Client) -> None:
    alice = await register_user(client, "alice")
    bodies = [
        ("/upload", '{"one_time_keys": {"curve25519:\\ud800": "x"}}'),
        ("/upload", '{"one_time_keys": {"curve25519:a\\u0000": "x"}}'),
        ("/claim", '{"one_time_keys": {"@a\\u0000:test.local": {"D": "curve25519"}}}'),
        ("/claim", '{"one_time_keys": {"@a:test.local": {"D\\ud800": "curve25519"}}}'),
        ("/query", '{"device_keys": {"@a\\ud800:test.local": []}}'),
    ]
    for path, raw in bodies:
        resp = await client.post(
            KEYS + path,
            data=raw,
            headers={**auth_header(alice["access_token"]), "Content-Type": "application/json"},
        )
        assert resp.status == 400, (path, raw, await resp.text())
