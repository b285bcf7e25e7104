"""ProfileStore on both backends."""

from __future__ import annotations

from homeserver.storage.db import Database
from homeserver.storage.stores.profiles import Profile, ProfileStore

store = ProfileStore()


async def test_get_returns_none_for_unknown_user(db: Database) -> None:
    async with db.read() as conn:
        assert await store.get(conn, "@nobody:test") is None


async def test_create_stores_initial_displayname(db: Database) -> None:
    async with db.write() as txn:
        await store.create(txn, "@alice:test", "alice")
    async with db.read() as conn:
        profile = await store.get(conn, "@alice:test")
    assert profile == Profile("@alice:test", "alice", None, {})


async def test_create_keeps_existing_row(db: Database) -> None:
    async with db.write() as txn:
        await store.put(txn, Profile("@alice:test", "Alice", "mxc://a/b", {}))
        await store.create(txn, "@alice:test", "alice")
    async with db.read() as conn:
        profile = await store.get(conn, "@alice:test")
    assert profile is not None
    assert profile.displayname == "Alice"


async def test_put_round_trips_extended_fields(db: Database) -> None:
    fields = {"m.tz": "Europe/Paris", "org.example.nested": {"a": [1, "ü", None]}}
    async with db.write() as txn:
        await store.put(txn, Profile("@bob:test", None, "mxc://x/y", fields))
    async with db.read() as conn:
        profile = await store.get(conn, "@bob:test")
    assert profile is not None
    assert profile.extra_fields == fields
    assert profile.as_json() == {**fields, "avatar_url": "mxc://x/y"}


async def test_put_overwrites_every_column(db: Database) -> None:
    async with db.write() as txn:
        await store.put(txn, Profile("@c:test", "C", "mxc://c/1", {"m.tz": "UTC"}))
        await store.put(txn, Profile("@c:test", None, None, {}))
    async with db.read() as conn:
        profile = await store.get(conn, "@c:test")
    assert profile == Profile("@c:test", None, None, {})


async def test_delete_removes_row(db: Database) -> None:
    async with db.write() as txn:
        await store.create(txn, "@d:test", None)
        await store.delete(txn, "@d:test")
    async with db.read() as conn:
        assert await store.get(conn, "@d:test") is None
