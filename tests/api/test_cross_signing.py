"""POST /keys/device_signing/upload and /keys/signatures/upload, with real ed25519 keys."""

from __future__ import annotations

import os
from typing import Any

from aiohttp.test_utils import TestClient
from signedjson.types import SigningKey

from homeserver.core.signing import (
    encode_verify_key,
    get_verify_key,
    sign_json,
    signing_key_from_seed,
)
from tests.api.helpers import auth_header, register_user

Client = TestClient[Any, Any]

KEYS = "/_matrix/client/v3/keys"
PASSWORD_AUTH = "m.login.password"


def new_key() -> tuple[SigningKey, str]:
    """An ed25519 key whose version is its own public key, as cross-signing keys are named."""
    seed = os.urandom(32)
    public = encode_verify_key(get_verify_key(signing_key_from_seed(seed, "x")))
    return signing_key_from_seed(seed, public), public


def cross_key(user_id: str, usage: str, public: str) -> dict[str, Any]:
    return {"user_id": user_id, "usage": [usage], "keys": {f"ed25519:{public}": public}}


class Identity:
    """A user's three cross-signing keys, signed as a client would."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.master, self.master_pub = new_key()
        self.ssk, self.ssk_pub = new_key()
        self.usk, self.usk_pub = new_key()

    def body(self) -> dict[str, Any]:
        return {
            "master_key": cross_key(self.user_id, "master", self.master_pub),
            "self_signing_key": sign_json(
                cross_key(self.user_id, "self_signing", self.ssk_pub), self.user_id, self.master
            ),
            "user_signing_key": sign_json(
                cross_key(self.user_id, "user_signing", self.usk_pub), self.user_id, self.master
            ),
        }


async def post(client: Client, user: dict[str, Any], path: str, body: Any) -> tuple[int, Any]:
    resp = await client.post(KEYS + path, json=body, headers=auth_header(user["access_token"]))
    return resp.status, await resp.json()


def password_auth(user: dict[str, Any], session: str) -> dict[str, Any]:
    return {
        "type": PASSWORD_AUTH,
        "identifier": {"type": "m.id.user", "user": user["user_id"]},
        "password": "password-123",
        "session": session,
    }


async def test_first_upload_needs_no_auth_and_is_queryable(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    ident = Identity(alice["user_id"])
    status, body = await post(client, alice, "/device_signing/upload", ident.body())
    assert status == 200, body

    _, own = await post(client, alice, "/query", {"device_keys": {alice["user_id"]: []}})
    assert own["master_keys"][alice["user_id"]]["keys"] == {
        f"ed25519:{ident.master_pub}": ident.master_pub
    }
    assert alice["user_id"] in own["self_signing_keys"]
    assert alice["user_id"] in own["user_signing_keys"]

    _, other = await post(client, bob, "/query", {"device_keys": {alice["user_id"]: []}})
    assert alice["user_id"] in other["master_keys"]
    assert alice["user_id"] in other["self_signing_keys"]
    assert other["user_signing_keys"] == {}


async def test_replacing_keys_needs_password_auth(client: Client) -> None:
    alice = await register_user(client, "alice")
    await post(client, alice, "/device_signing/upload", Identity(alice["user_id"]).body())

    # Once a master key exists, an upload without one is not a harmless retry.
    status, _ = await post(client, alice, "/device_signing/upload", {})
    assert status == 401
    new = Identity(alice["user_id"])
    status, challenge = await post(client, alice, "/device_signing/upload", new.body())
    assert status == 401
    assert challenge["flows"] == [{"stages": [PASSWORD_AUTH]}]
    body = {**new.body(), "auth": password_auth(alice, challenge["session"])}
    status, result = await post(client, alice, "/device_signing/upload", body)
    assert status == 200, result
    _, own = await post(client, alice, "/query", {"device_keys": {alice["user_id"]: []}})
    assert f"ed25519:{new.master_pub}" in own["master_keys"][alice["user_id"]]["keys"]


async def test_identical_reupload_needs_no_auth(client: Client) -> None:
    alice = await register_user(client, "alice")
    ident = Identity(alice["user_id"])
    body = ident.body()
    await post(client, alice, "/device_signing/upload", body)
    status, result = await post(client, alice, "/device_signing/upload", body)
    assert status == 200, result


async def test_self_signing_key_not_signed_by_master_rejected(client: Client) -> None:
    alice = await register_user(client, "alice")
    ident = Identity(alice["user_id"])
    body = ident.body()
    body["self_signing_key"] = cross_key(alice["user_id"], "self_signing", ident.ssk_pub)
    status, result = await post(client, alice, "/device_signing/upload", body)
    assert status == 400
    assert result["errcode"] == "M_INVALID_SIGNATURE"


async def test_sub_key_without_master_rejected(client: Client) -> None:
    alice = await register_user(client, "alice")
    body = Identity(alice["user_id"]).body()
    del body["master_key"]
    status, result = await post(client, alice, "/device_signing/upload", body)
    assert status == 400
    assert result["errcode"] == "M_MISSING_PARAM"


async def test_key_of_another_user_rejected(client: Client) -> None:
    alice = await register_user(client, "alice")
    status, result = await post(
        client, alice, "/device_signing/upload", Identity("@bob:test.local").body()
    )
    assert status == 400
    assert result["errcode"] == "M_INVALID_PARAM"


async def test_signatures_upload_verifies_device_signature(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    ident = Identity(alice["user_id"])
    await post(client, alice, "/device_signing/upload", ident.body())
    device_key, device_pub = new_key()
    device = alice["device_id"]
    keys = {
        "user_id": alice["user_id"],
        "device_id": device,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
        "keys": {f"ed25519:{device}": device_pub, f"curve25519:{device}": "curve"},
    }
    keys = sign_json(keys, alice["user_id"], signing_key_from_seed(device_key.encode(), device))
    status, _ = await post(client, alice, "/upload", {"device_keys": keys})
    assert status == 200

    # A good signature by the self-signing key, and a forged one.
    signed = sign_json(keys, alice["user_id"], ident.ssk)
    forged = sign_json(keys, alice["user_id"], new_key()[0])
    forged["signatures"][alice["user_id"]] = {
        f"ed25519:{ident.ssk_pub}": next(iter(forged["signatures"][alice["user_id"]].values()))
    }
    status, result = await post(
        client, alice, "/signatures/upload", {alice["user_id"]: {device: forged}}
    )
    assert status == 200
    assert result["failures"][alice["user_id"]][device]["errcode"] == "M_INVALID_SIGNATURE"

    status, result = await post(
        client, alice, "/signatures/upload", {alice["user_id"]: {device: signed}}
    )
    assert status == 200
    assert result["failures"] == {}
    _, query = await post(client, bob, "/query", {"device_keys": {alice["user_id"]: []}})
    sigs = query["device_keys"][alice["user_id"]][device]["signatures"][alice["user_id"]]
    assert f"ed25519:{ident.ssk_pub}" in sigs
    assert f"ed25519:{device}" in sigs


async def test_user_signing_signature_visible_only_to_signer(client: Client) -> None:
    alice = await register_user(client, "alice")
    bob = await register_user(client, "bob")
    carol = await register_user(client, "carol")
    alice_ident, bob_ident = Identity(alice["user_id"]), Identity(bob["user_id"])
    await post(client, alice, "/device_signing/upload", alice_ident.body())
    await post(client, bob, "/device_signing/upload", bob_ident.body())

    bob_master = bob_ident.body()["master_key"]
    signed = sign_json(bob_master, alice["user_id"], alice_ident.usk)
    status, result = await post(
        client, alice, "/signatures/upload", {bob["user_id"]: {bob_ident.master_pub: signed}}
    )
    assert status == 200
    assert result["failures"] == {}

    sig_id = f"ed25519:{alice_ident.usk_pub}"
    _, seen_by_alice = await post(client, alice, "/query", {"device_keys": {bob["user_id"]: []}})
    assert sig_id in seen_by_alice["master_keys"][bob["user_id"]]["signatures"][alice["user_id"]]
    _, seen_by_carol = await post(client, carol, "/query", {"device_keys": {bob["user_id"]: []}})
    assert alice["user_id"] not in seen_by_carol["master_keys"][bob["user_id"]]["signatures"]


async def test_signatures_upload_unknown_key_reported(client: Client) -> None:
    alice = await register_user(client, "alice")
    await post(client, alice, "/device_signing/upload", Identity(alice["user_id"]).body())
    obj = {"signatures": {alice["user_id"]: {"ed25519:x": "sig"}}}
    status, result = await post(
        client, alice, "/signatures/upload", {alice["user_id"]: {"NOSUCHDEVICE": obj}}
    )
    assert status == 200
    assert result["failures"][alice["user_id"]]["NOSUCHDEVICE"]["errcode"] == "M_NOT_FOUND"


async def test_cross_signing_upload_marks_device_list_changed(client: Client) -> None:
    from tests.api.helpers import services_of

    alice = await register_user(client, "alice")
    svc = services_of(client)
    async with svc.db.read() as conn:
        before = await svc.sync.tokens.current_token(conn)
    await post(client, alice, "/device_signing/upload", Identity(alice["user_id"]).body())
    async with svc.db.read() as conn:
        after = await svc.sync.tokens.current_token(conn)
    assert after.device_lists > before.device_lists
    changes = await svc.e2e_keys.device_list_changes(alice["user_id"], before, after)
    assert changes.changed == {alice["user_id"]}
