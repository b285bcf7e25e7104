"""Server-side key backups: /room_keys/version and /room_keys/keys."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import auth_header, register_user

Client = TestClient[Any, Any]

ROOM_KEYS = "/_matrix/client/v3/room_keys"
ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
ROOM = "!room:test.local"


def key_data(
    *, verified: bool = False, index: int = 0, forwarded: int = 0, tag: str = "a"
) -> dict[str, Any]:
    return {
        "first_message_index": index,
        "forwarded_count": forwarded,
        "is_verified": verified,
        "session_data": {"ciphertext": tag, "ephemeral": "e", "mac": "m"},
    }


async def call(
    client: Client, user: dict[str, Any], method: str, path: str, body: Any = None, **params: str
) -> tuple[int, Any]:
    resp = await client.request(
        method,
        ROOM_KEYS + path,
        json=body,
        params=params,
        headers=auth_header(user["access_token"]),
    )
    return resp.status, await resp.json()


async def new_version(client: Client, user: dict[str, Any]) -> str:
    status, body = await call(
        client, user, "POST", "/version", {"algorithm": ALGORITHM, "auth_data": {"public_key": "p"}}
    )
    assert status == 200, body
    version: str = body["version"]
    return version


async def test_version_lifecycle_create_get_update_delete(client: Client) -> None:
    alice = await register_user(client, "alice")
    status, body = await call(client, alice, "GET", "/version")
    assert status == 404
    assert body["errcode"] == "M_NOT_FOUND"

    version = await new_version(client, alice)
    status, body = await call(client, alice, "GET", "/version")
    assert status == 200
    assert body == {
        "algorithm": ALGORITHM,
        "auth_data": {"public_key": "p"},
        "count": 0,
        "etag": body["etag"],
        "version": version,
    }
    status, _ = await call(
        client,
        alice,
        "PUT",
        f"/version/{version}",
        {"algorithm": ALGORITHM, "auth_data": {"public_key": "q"}, "version": version},
    )
    assert status == 200
    _, body = await call(client, alice, "GET", f"/version/{version}")
    assert body["auth_data"] == {"public_key": "q"}

    assert (await call(client, alice, "DELETE", f"/version/{version}"))[0] == 200
    assert (await call(client, alice, "DELETE", f"/version/{version}"))[0] == 200
    assert (await call(client, alice, "GET", f"/version/{version}"))[0] == 404
    assert (await call(client, alice, "DELETE", "/version/999"))[0] == 404
    # A deleted version's number is never handed out again.
    assert int(await new_version(client, alice)) > int(version)


async def test_update_with_other_algorithm_or_version_rejected(client: Client) -> None:
    alice = await register_user(client, "alice")
    version = await new_version(client, alice)
    status, body = await call(
        client,
        alice,
        "PUT",
        f"/version/{version}",
        {"algorithm": "org.matrix.msc3270.v1.aes-hmac-sha2", "auth_data": {}},
    )
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"
    status, body = await call(
        client,
        alice,
        "PUT",
        f"/version/{version}",
        {"algorithm": ALGORITHM, "auth_data": {}, "version": "77"},
    )
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"
    assert (
        await call(client, alice, "PUT", "/version/77", {"algorithm": ALGORITHM, "auth_data": {}})
    )[0] == 404


async def test_keys_stored_and_read_at_every_level(client: Client) -> None:
    alice = await register_user(client, "alice")
    version = await new_version(client, alice)
    status, body = await call(client, alice, "PUT", f"/keys/{ROOM}/s1", key_data(), version=version)
    assert status == 200
    assert body["count"] == 1
    status, body = await call(
        client,
        alice,
        "PUT",
        f"/keys/{ROOM}",
        {"sessions": {"s2": key_data(tag="b")}},
        version=version,
    )
    assert body["count"] == 2
    status, body = await call(
        client,
        alice,
        "PUT",
        "/keys",
        {"rooms": {"!other:test.local": {"sessions": {"s3": key_data()}}}},
        version=version,
    )
    assert body["count"] == 3

    _, everything = await call(client, alice, "GET", "/keys", version=version)
    assert set(everything["rooms"]) == {ROOM, "!other:test.local"}
    _, room = await call(client, alice, "GET", f"/keys/{ROOM}", version=version)
    assert set(room["sessions"]) == {"s1", "s2"}
    _, session = await call(client, alice, "GET", f"/keys/{ROOM}/s2", version=version)
    assert session == key_data(tag="b")
    status, _ = await call(client, alice, "GET", f"/keys/{ROOM}/nope", version=version)
    assert status == 404
    _, empty = await call(client, alice, "GET", "/keys/!empty:test.local", version=version)
    assert empty == {"sessions": {}}

    _, info = await call(client, alice, "GET", "/version")
    assert info["count"] == 3


async def test_put_to_old_version_is_wrong_version(client: Client) -> None:
    alice = await register_user(client, "alice")
    old = await new_version(client, alice)
    current = await new_version(client, alice)
    status, body = await call(client, alice, "PUT", f"/keys/{ROOM}/s1", key_data(), version=old)
    assert status == 403
    assert body["errcode"] == "M_WRONG_ROOM_KEYS_VERSION"
    assert body["current_version"] == current


async def test_put_without_backup_is_not_found(client: Client) -> None:
    alice = await register_user(client, "alice")
    status, body = await call(client, alice, "PUT", f"/keys/{ROOM}/s1", key_data(), version="1")
    assert status == 404
    assert body["errcode"] == "M_NOT_FOUND"


async def test_better_key_replaces_and_worse_key_is_ignored(client: Client) -> None:
    alice = await register_user(client, "alice")
    v = await new_version(client, alice)
    path = f"/keys/{ROOM}/s1"

    async def put_and_read(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
        status, body = await call(client, alice, "PUT", path, data, version=v)
        assert status == 200, body
        _, stored = await call(client, alice, "GET", path, version=v)
        return stored, body["etag"]

    stored, etag0 = await put_and_read(key_data(index=5, forwarded=2, tag="first"))
    # Unverified, higher index: loses.
    stored, etag1 = await put_and_read(key_data(index=6, tag="worse"))
    assert stored["session_data"]["ciphertext"] == "first"
    assert etag1 == etag0
    # Same verification, lower index: wins.
    stored, etag2 = await put_and_read(key_data(index=3, forwarded=9, tag="lower-index"))
    assert stored["session_data"]["ciphertext"] == "lower-index"
    assert etag2 != etag1
    # Same index, lower forwarded_count: wins.
    stored, _ = await put_and_read(key_data(index=3, forwarded=1, tag="fewer-forwards"))
    assert stored["session_data"]["ciphertext"] == "fewer-forwards"
    # Verified beats a lower index.
    stored, _ = await put_and_read(key_data(verified=True, index=10, tag="verified"))
    assert stored["session_data"]["ciphertext"] == "verified"
    # Unverified never replaces verified.
    stored, _ = await put_and_read(key_data(index=0, tag="unverified"))
    assert stored["session_data"]["ciphertext"] == "verified"
    # A full tie keeps the stored key.
    stored, _ = await put_and_read(key_data(verified=True, index=10, tag="tie"))
    assert stored["session_data"]["ciphertext"] == "verified"


async def test_delete_keys_updates_count_and_etag(client: Client) -> None:
    alice = await register_user(client, "alice")
    v = await new_version(client, alice)
    await call(client, alice, "PUT", f"/keys/{ROOM}/s1", key_data(), version=v)
    _, put = await call(client, alice, "PUT", f"/keys/{ROOM}/s2", key_data(), version=v)
    status, body = await call(client, alice, "DELETE", f"/keys/{ROOM}/s1", version=v)
    assert status == 200
    assert body["count"] == 1
    assert body["etag"] != put["etag"]
    _, body = await call(client, alice, "DELETE", "/keys", version=v)
    assert body["count"] == 0


async def test_malformed_key_data_rejected(client: Client) -> None:
    alice = await register_user(client, "alice")
    v = await new_version(client, alice)
    bad = {**key_data(), "first_message_index": "zero"}
    status, body = await call(client, alice, "PUT", f"/keys/{ROOM}/s1", bad, version=v)
    assert status == 400
    assert body["errcode"] == "M_BAD_JSON"
    status, body = await call(client, alice, "PUT", f"/keys/{ROOM}/s1", key_data())
    assert status == 400
    assert body["errcode"] == "M_MISSING_PARAM"


async def test_backups_are_private_to_their_user(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    v = await new_version(client, alice)
    await call(client, alice, "PUT", f"/keys/{ROOM}/s1", key_data(), version=v)
    assert (await call(client, bob, "GET", "/version"))[0] == 404
    assert (await call(client, bob, "GET", "/keys", version=v))[0] == 404


async def test_version_accepts_any_algorithm_name(client: Client) -> None:
    # The server never decrypts a backup, so, as Synapse does, it keeps any
    # algorithm name (Complement uses the short "m.megolm_backup.v1").
    alice = await register_user(client, "alice")
    body = {"algorithm": "m.megolm_backup.v1", "auth_data": {"foo": "bar"}}
    status, created = await call(client, alice, "POST", "/version", body)
    assert status == 200, created
    _, info = await call(client, alice, "GET", f"/version/{created['version']}")
    assert (info["algorithm"], info["auth_data"]) == ("m.megolm_backup.v1", {"foo": "bar"})
    status, err = await call(client, alice, "POST", "/version", {"algorithm": 1, "auth_data": {}})
    assert (status, err["errcode"]) == (400, "M_BAD_JSON")


async def test_worse_keys_never_replace_under_any_algorithm(client: Client) -> None:
    """Complement's TestE2EKeyBackupReplaceRoomKeyRules table."""
    alice = await register_user(client, "alice")
    body = {"algorithm": "m.megolm_backup.v1", "auth_data": {"foo": "bar"}}
    _, created = await call(client, alice, "POST", "/version", body)
    v = created["version"]
    cases = {
        "a": ((False, 10, 5), [(False, 11, 5), (False, 10, 6), (False, 11, 6)]),
        "b": (
            (True, 10, 5),
            [
                *[(False, 11, 5), (False, 10, 6), (False, 11, 6)],
                *[(True, 11, 5), (True, 10, 6), (True, 11, 6)],
            ],
        ),
    }
    for session, ((verified, index, forwarded), worse) in cases.items():
        kept = key_data(verified=verified, index=index, forwarded=forwarded)
        status, _ = await call(client, alice, "PUT", f"/keys/!foo:hs1/{session}", kept, version=v)
        assert status == 200
        for w_verified, w_index, w_forwarded in worse:
            other = key_data(verified=w_verified, index=w_index, forwarded=w_forwarded, tag="x")
            path = f"/keys/!foo:hs1/{session}"
            status, _ = await call(client, alice, "PUT", path, other, version=v)
            assert status == 200
            _, stored = await call(client, alice, "GET", path, version=v)
            assert stored == kept
