"""A real end-to-end encrypted exchange between two olm clients, through our server.

Alice and Bob each run an ``olm.Account``. They publish signed identity and
one-time keys; Alice queries Bob's keys, checks his device signature and the
signature on a claimed one-time key with olm's ed25519 check, opens an Olm
session and sends Bob a Megolm room key as an ``m.room.encrypted`` to-device
message. Bob decrypts it from /sync's ``to_device``, then decrypts Alice's
Megolm-encrypted room message from his /sync timeline.
"""

from __future__ import annotations

import json
from typing import Any

import olm
from aiohttp.test_utils import TestClient
from canonicaljson import encode_canonical_json

from tests.api.helpers import auth_header, register_user

Client = TestClient[Any, Any]

V3 = "/_matrix/client/v3"
OLM = "m.olm.v1.curve25519-aes-sha2"
MEGOLM = "m.megolm.v1.aes-sha2"


class Device:
    """One logged-in client with its olm account."""

    def __init__(self, login: dict[str, Any]) -> None:
        self.user_id: str = login["user_id"]
        self.device_id: str = login["device_id"]
        self.token: str = login["access_token"]
        self.account = olm.Account()
        self.since: str | None = None

    @property
    def curve(self) -> str:
        key: str = self.account.identity_keys["curve25519"]
        return key

    @property
    def ed(self) -> str:
        key: str = self.account.identity_keys["ed25519"]
        return key

    def sign(self, obj: dict[str, Any]) -> dict[str, Any]:
        unsigned = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
        signature = self.account.sign(encode_canonical_json(unsigned).decode("utf-8"))
        return {**obj, "signatures": {self.user_id: {f"ed25519:{self.device_id}": signature}}}

    def device_keys(self) -> dict[str, Any]:
        return self.sign(
            {
                "user_id": self.user_id,
                "device_id": self.device_id,
                "algorithms": [OLM, MEGOLM],
                "keys": {
                    f"curve25519:{self.device_id}": self.curve,
                    f"ed25519:{self.device_id}": self.ed,
                },
            }
        )

    def one_time_keys(self, count: int) -> dict[str, Any]:
        self.account.generate_one_time_keys(count)
        keys = {
            f"signed_curve25519:{key_id}": self.sign({"key": key})
            for key_id, key in self.account.one_time_keys["curve25519"].items()
        }
        self.account.mark_keys_as_published()
        return keys

    async def post(self, client: Client, path: str, body: Any) -> Any:
        resp = await client.post(V3 + path, json=body, headers=auth_header(self.token))
        data = await resp.json()
        assert resp.status == 200, data
        return data

    async def put(self, client: Client, path: str, body: Any) -> Any:
        resp = await client.put(V3 + path, json=body, headers=auth_header(self.token))
        data = await resp.json()
        assert resp.status == 200, data
        return data

    async def sync(self, client: Client) -> dict[str, Any]:
        params = {"timeout": "0"}
        if self.since is not None:
            params["since"] = self.since
        resp = await client.get(V3 + "/sync", params=params, headers=auth_header(self.token))
        data: dict[str, Any] = await resp.json()
        assert resp.status == 200, data
        self.since = data["next_batch"]
        return data


def verify(signed: dict[str, Any], user_id: str, key_id: str, ed25519: str) -> None:
    """Raises olm.OlmVerifyError unless ``signed`` carries a valid signature."""
    unsigned = {k: v for k, v in signed.items() if k not in ("signatures", "unsigned")}
    olm.ed25519_verify(
        ed25519,
        encode_canonical_json(unsigned).decode("utf-8"),
        signed["signatures"][user_id][key_id],
    )


async def test_olm_and_megolm_messages_decrypt_through_server(client: Client) -> None:
    alice = Device(await register_user(client, "alice"))
    bob = Device(await register_user(client, "bob"))
    for device in (alice, bob):
        counts = await device.post(
            client,
            "/keys/upload",
            {"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(5)},
        )
        assert counts["one_time_key_counts"] == {"signed_curve25519": 5}

    # A shared room, so each sees the other's device list.
    room = await alice.post(client, "/createRoom", {"invite": [bob.user_id]})
    room_id = room["room_id"]
    await bob.post(client, f"/rooms/{room_id}/join", {})
    await bob.sync(client)

    # Alice looks Bob's device up and checks its self-signature.
    query = await alice.post(client, "/keys/query", {"device_keys": {bob.user_id: []}})
    bob_keys = query["device_keys"][bob.user_id][bob.device_id]
    bob_ed = bob_keys["keys"][f"ed25519:{bob.device_id}"]
    bob_curve = bob_keys["keys"][f"curve25519:{bob.device_id}"]
    verify(bob_keys, bob.user_id, f"ed25519:{bob.device_id}", bob_ed)
    tampered = {**bob_keys, "keys": {**bob_keys["keys"], f"curve25519:{bob.device_id}": "x"}}
    try:
        verify(tampered, bob.user_id, f"ed25519:{bob.device_id}", bob_ed)
        tampered_verifies = True
    except olm.OlmVerifyError:
        tampered_verifies = False
    assert not tampered_verifies

    # Claim one of Bob's one-time keys and check its signature too.
    claim = await alice.post(
        client,
        "/keys/claim",
        {"one_time_keys": {bob.user_id: {bob.device_id: "signed_curve25519"}}},
    )
    ((_, otk),) = claim["one_time_keys"][bob.user_id][bob.device_id].items()
    verify(otk, bob.user_id, f"ed25519:{bob.device_id}", bob_ed)

    # Alice shares a Megolm session over Olm.
    outbound = olm.OutboundSession(alice.account, bob_curve, otk["key"])
    megolm_out = olm.OutboundGroupSession()
    payload = {
        "type": "m.room_key",
        "content": {
            "algorithm": MEGOLM,
            "room_id": room_id,
            "session_id": megolm_out.id,
            "session_key": megolm_out.session_key,
        },
        "sender": alice.user_id,
        "recipient": bob.user_id,
        "recipient_keys": {"ed25519": bob_ed},
        "keys": {"ed25519": alice.ed},
    }
    message = outbound.encrypt(json.dumps(payload))
    await alice.put(
        client,
        "/sendToDevice/m.room.encrypted/txn1",
        {
            "messages": {
                bob.user_id: {
                    bob.device_id: {
                        "algorithm": OLM,
                        "sender_key": alice.curve,
                        "ciphertext": {
                            bob_curve: {"type": message.message_type, "body": message.ciphertext}
                        },
                    }
                }
            }
        },
    )

    # And sends a Megolm-encrypted room message.
    secret = {"type": "m.room.message", "content": {"msgtype": "m.text", "body": "hi"}}
    sent = await alice.put(
        client,
        f"/rooms/{room_id}/send/m.room.encrypted/txn2",
        {
            "algorithm": MEGOLM,
            "sender_key": alice.curve,
            "device_id": alice.device_id,
            "session_id": megolm_out.id,
            "ciphertext": megolm_out.encrypt(json.dumps({**secret, "room_id": room_id})),
        },
    )

    # Bob decrypts the room key from his to-device messages...
    synced = await bob.sync(client)
    assert synced["device_one_time_keys_count"]["signed_curve25519"] == 4
    (to_device,) = [e for e in synced["to_device"]["events"] if e["type"] == "m.room.encrypted"]
    assert to_device["sender"] == alice.user_id
    body = to_device["content"]["ciphertext"][bob_curve]
    assert body["type"] == 0
    prekey = olm.OlmPreKeyMessage(body["body"])
    inbound = olm.InboundSession(bob.account, prekey, to_device["content"]["sender_key"])
    bob.account.remove_one_time_keys(inbound)
    room_key = json.loads(inbound.decrypt(prekey))
    assert room_key["recipient_keys"] == {"ed25519": bob.ed}
    assert room_key["keys"] == {"ed25519": alice.ed}
    assert room_key["content"]["session_id"] == megolm_out.id

    # ...and with it the room message from his timeline.
    megolm_in = olm.InboundGroupSession(room_key["content"]["session_key"])
    timeline = synced["rooms"]["join"][room_id]["timeline"]["events"]
    (encrypted,) = [e for e in timeline if e["event_id"] == sent["event_id"]]
    assert encrypted["type"] == "m.room.encrypted"
    plaintext, index = megolm_in.decrypt(encrypted["content"]["ciphertext"])
    assert index == 0
    assert json.loads(plaintext) == {**secret, "room_id": room_id}
