"""AccountDataStore and its stream positions on both backends."""

from __future__ import annotations

import asyncio

from homeserver.storage.db import Database
from homeserver.storage.stores.account_data import AccountDataStore

store = AccountDataStore()


async def test_get_returns_none_when_never_set(db: Database) -> None:
    async with db.read() as conn:
        assert await store.get(conn, "@a:test", None, "m.direct") is None


async def test_put_separates_global_and_room_entries(db: Database) -> None:
    async with db.write() as txn:
        await store.put(txn, "@a:test", None, "t", {"scope": "global"})
        await store.put(txn, "@a:test", "!r:test", "t", {"scope": "room"})
    async with db.read() as conn:
        assert await store.get(conn, "@a:test", None, "t") == {"scope": "global"}
        assert await store.get(conn, "@a:test", "!r:test", "t") == {"scope": "room"}
        assert await store.get(conn, "@b:test", None, "t") is None


async def test_put_replaces_content(db: Database) -> None:
    async with db.write() as txn:
        await store.put(txn, "@a:test", None, "t", {"v": 1})
    async with db.write() as txn:
        await store.put(txn, "@a:test", None, "t", {"v": 2})
    async with db.read() as conn:
        assert await store.get(conn, "@a:test", None, "t") == {"v": 2}


async def test_stream_ids_increase_with_every_change(db: Database) -> None:
    async with db.read() as conn:
        start = await store.current_stream_id(conn)
    ids = []
    for i in range(3):
        async with db.write() as txn:
            ids.append(await store.put(txn, "@a:test", None, "t", {"v": i}))
    assert ids == [start + 1, start + 2, start + 3]
    async with db.read() as conn:
        assert await store.current_stream_id(conn) == start + 3


async def test_concurrent_writes_get_distinct_stream_ids(db: Database) -> None:
    async def write(i: int) -> int:
        async with db.write() as txn:
            return await store.put(txn, f"@u{i}:test", None, "t", {"i": i})

    ids = await asyncio.gather(*(write(i) for i in range(10)))
    assert len(set(ids)) == 10


async def test_changes_since_lists_latest_content_in_stream_order(db: Database) -> None:
    async with db.write() as txn:
        first = await store.put(txn, "@a:test", None, "x", {"v": 1})
        await store.put(txn, "@a:test", "!r:test", "y", {"v": 1})
        await store.put(txn, "@b:test", None, "x", {"other": True})
        last = await store.put(txn, "@a:test", None, "x", {"v": 2})
    async with db.read() as conn:
        changes = await store.changes_since(conn, "@a:test", first - 1)
        bounded = await store.changes_since(conn, "@a:test", first - 1, upto=last - 1)
        none_after = await store.changes_since(conn, "@a:test", last)
    assert [(c.room_id, c.type, c.content) for c in changes] == [
        ("!r:test", "y", {"v": 1}),
        (None, "x", {"v": 2}),
    ]
    assert changes[-1].stream_id == last
    assert [(c.room_id, c.type) for c in bounded] == [("!r:test", "y")]
    assert none_after == []
