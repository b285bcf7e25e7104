"""E2EKeyStore on both backends: one-time key claim order, device key replacement."""

from __future__ import annotations

from homeserver.storage.db import Database
from homeserver.storage.stores.e2e_keys import E2EKeyStore

store = E2EKeyStore()
ALICE = "@alice:test"
ALG = "signed_curve25519"


async def test_claim_hands_out_oldest_upload_first_then_by_key_id(db: Database) -> None:
    async with db.write() as txn:
        await store.add_one_time_keys(txn, ALICE, "D", [(ALG, "a", {"k": "a"})], 3000)
        await store.add_one_time_keys(txn, ALICE, "D", [(ALG, "z", {}), (ALG, "m", {})], 1000)
        await store.add_one_time_keys(txn, ALICE, "D", [(ALG, "b", {"k": "b"})], 2000)
        await store.add_one_time_keys(txn, ALICE, "OTHER", [(ALG, "0", {})], 0)
        await store.set_fallback_key(txn, ALICE, "D", ALG, "fb", {"k": "fb"})
    claimed = []
    for _ in range(5):
        async with db.write() as txn:
            key = await store.claim_one_time_key(txn, db.dialect, ALICE, "D", ALG)
        assert key is not None
        claimed.append((key.key_id, key.fallback))
    assert claimed == [
        (f"{ALG}:m", False),
        (f"{ALG}:z", False),
        (f"{ALG}:b", False),
        (f"{ALG}:a", False),
        (f"{ALG}:fb", True),
    ]
    async with db.read() as conn:
        assert await store.count_one_time_keys(conn, ALICE, "OTHER") == {ALG: 1}


async def test_set_device_keys_replaces_different_keys(db: Database) -> None:
    first = {"user_id": ALICE, "device_id": "D", "keys": {"ed25519:D": "one"}}
    second = {**first, "keys": {"ed25519:D": "two"}}
    async with db.write() as txn:
        assert await store.set_device_keys(txn, ALICE, "D", first, 1)
        assert not await store.set_device_keys(txn, ALICE, "D", first, 2)
        assert await store.set_device_keys(txn, ALICE, "D", second, 3)
    async with db.read() as conn:
        assert await store.get_device_keys(conn, ALICE, "D") == second
