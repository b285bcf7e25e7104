"""The account, device, token, UIA and registration-token stores, on both backends."""

from __future__ import annotations

from homeserver.storage.db import Database
from homeserver.storage.stores.accounts import AccountStore
from homeserver.storage.stores.devices import DeviceStore
from homeserver.storage.stores.registration_tokens import RegistrationTokenStore
from homeserver.storage.stores.tokens import TokenStore
from homeserver.storage.stores.uia import UIAStore

ALICE = "@alice:test.local"
NOW = 1_700_000_000_000


async def _make_alice(db: Database, **flags: bool) -> None:
    async with db.write() as txn:
        assert await AccountStore().create(txn, ALICE, password_hash="h", created_ts=NOW, **flags)


async def test_create_account_reads_back_flags(db: Database) -> None:
    await _make_alice(db, is_admin=True)
    async with db.read() as conn:
        account = await AccountStore().get(conn, ALICE)
    assert account is not None
    assert account.is_admin is True
    assert account.is_guest is False
    assert account.deactivated is False
    assert account.password_hash == "h"
    assert account.created_ts == NOW


async def test_create_account_refuses_taken_user_id(db: Database) -> None:
    await _make_alice(db)
    async with db.write() as txn:
        created = await AccountStore().create(txn, ALICE, password_hash=None, created_ts=NOW)
    assert created is False


async def test_find_case_insensitive_matches_mixed_case(db: Database) -> None:
    async with db.write() as txn:
        await AccountStore().create(txn, "@Bob:test.local", password_hash=None, created_ts=NOW)
    async with db.read() as conn:
        found = await AccountStore().find_case_insensitive(conn, "@bob:test.local")
    assert [a.user_id for a in found] == ["@Bob:test.local"]


async def test_deactivate_drops_password_and_sets_erased(db: Database) -> None:
    await _make_alice(db)
    async with db.write() as txn:
        await AccountStore().deactivate(txn, ALICE, erase=True)
    async with db.read() as conn:
        account = await AccountStore().get(conn, ALICE)
        assert await AccountStore().exists(conn, ALICE)
    assert account is not None
    assert account.deactivated is True
    assert account.erased is True
    assert account.password_hash is None


async def test_device_upsert_creates_then_reuses(db: Database) -> None:
    store = DeviceStore()
    async with db.write() as txn:
        first = await store.upsert(txn, ALICE, "DEV", display_name="phone", now_ms=NOW)
        second = await store.upsert(txn, ALICE, "DEV", display_name=None, now_ms=NOW + 5)
    async with db.read() as conn:
        device = await store.get(conn, ALICE, "DEV")
    assert first is True
    assert second is False
    assert device is not None
    assert device.display_name == "phone"
    assert device.last_seen_ts == NOW + 5


async def test_delete_all_except_keeps_one_device(db: Database) -> None:
    store = DeviceStore()
    async with db.write() as txn:
        for d in ("A", "B", "C"):
            await store.upsert(txn, ALICE, d, display_name=None, now_ms=NOW)
        deleted = await store.delete_all_except(txn, ALICE, "B")
    async with db.read() as conn:
        left = [d.device_id for d in await store.list_for_user(conn, ALICE)]
    assert sorted(deleted) == ["A", "C"]
    assert left == ["B"]


async def test_access_token_lookup_joins_account_flags(db: Database) -> None:
    await _make_alice(db, is_guest=True)
    store = TokenStore()
    async with db.write() as txn:
        await store.add_access_token(
            txn,
            token_id=7,
            token_hash="abc",
            user_id=ALICE,
            device_id="DEV",
            created_ts=NOW,
            valid_until_ms=NOW + 10,
            refresh_token_id=None,
        )
    async with db.read() as conn:
        info = await store.get_access_token(conn, "abc")
        missing = await store.get_access_token(conn, "nope")
    assert info is not None
    assert info.token_id == 7
    assert info.is_guest is True
    assert info.valid_until_ms == NOW + 10
    assert info.used is False
    assert missing is None


async def test_mark_access_token_used_flips_once(db: Database) -> None:
    await _make_alice(db)
    store = TokenStore()
    async with db.write() as txn:
        await store.add_access_token(
            txn,
            token_id=1,
            token_hash="t",
            user_id=ALICE,
            device_id=None,
            created_ts=NOW,
            valid_until_ms=None,
            refresh_token_id=None,
        )
        assert await store.mark_access_token_used(txn, 1, NOW) is True
        assert await store.mark_access_token_used(txn, 1, NOW) is False


async def test_delete_refresh_token_removes_its_access_tokens(db: Database) -> None:
    await _make_alice(db)
    store = TokenStore()
    async with db.write() as txn:
        await store.add_refresh_token(
            txn,
            token_id=5,
            token_hash="r",
            user_id=ALICE,
            device_id="DEV",
            created_ts=NOW,
            expiry_ts=None,
        )
        await store.add_access_token(
            txn,
            token_id=6,
            token_hash="a",
            user_id=ALICE,
            device_id="DEV",
            created_ts=NOW,
            valid_until_ms=None,
            refresh_token_id=5,
        )
        await store.delete_refresh_token(txn, 5)
    async with db.read() as conn:
        assert await store.get_access_token(conn, "a") is None
        assert await store.get_refresh_token(conn, "r") is None


async def test_login_token_is_single_use(db: Database) -> None:
    store = TokenStore()
    async with db.write() as txn:
        await store.add_login_token(txn, "lt", ALICE, NOW + 1000)
        first = await store.consume_login_token(txn, "lt", NOW)
        second = await store.consume_login_token(txn, "lt", NOW)
    assert first == ALICE
    assert second is None


async def test_login_token_expired_is_refused(db: Database) -> None:
    store = TokenStore()
    async with db.write() as txn:
        await store.add_login_token(txn, "lt", ALICE, NOW)
        assert await store.consume_login_token(txn, "lt", NOW) is None


async def test_registration_token_reserve_respects_uses_allowed(db: Database) -> None:
    store = RegistrationTokenStore()
    async with db.write() as txn:
        assert await store.create(txn, "tok", uses_allowed=1, expiry_time=None)
        assert await store.reserve(txn, "tok", NOW) is True
        assert await store.reserve(txn, "tok", NOW) is False
        await store.release(txn, "tok")
        assert await store.reserve(txn, "tok", NOW) is True
        await store.complete(txn, "tok")
    async with db.read() as conn:
        token = await store.get(conn, "tok")
    assert token is not None
    assert (token.pending, token.completed) == (0, 1)
    assert token.is_valid(NOW) is False


async def test_registration_token_expired_cannot_be_reserved(db: Database) -> None:
    store = RegistrationTokenStore()
    async with db.write() as txn:
        await store.create(txn, "old", uses_allowed=None, expiry_time=NOW)
        assert await store.reserve(txn, "old", NOW) is False


async def test_nonce_consumed_once(db: Database) -> None:
    store = RegistrationTokenStore()
    async with db.write() as txn:
        await store.add_nonce(txn, "n", NOW + 60_000)
        assert await store.consume_nonce(txn, "n", NOW) is True
        assert await store.consume_nonce(txn, "n", NOW) is False


async def test_uia_session_round_trip(db: Database) -> None:
    store = UIAStore()
    async with db.write() as txn:
        await store.create(
            txn,
            "s1",
            created_ts=NOW,
            clientdict={"username": "alice"},
            uri="/x",
            method="POST",
            description="d",
        )
        await store.set_serverdict_value(txn, "s1", "user_id", ALICE)
        await store.mark_stage_complete(txn, "s1", "m.login.dummy", True)
    async with db.read() as conn:
        session = await store.get(conn, "s1")
        completed = await store.completed_stages(conn, "s1")
        expired = await store.expired(conn, NOW + 1)
    assert session is not None
    assert session.clientdict == {"username": "alice"}
    assert session.serverdict == {"user_id": ALICE}
    assert completed == {"m.login.dummy": True}
    assert [s.session_id for s in expired] == ["s1"]
    async with db.write() as txn:
        await store.delete(txn, "s1")
    async with db.read() as conn:
        assert await store.get(conn, "s1") is None
