"""The search index store, and the delta that indexes events already stored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from homeserver.core.search_tokens import document_tokens, query_tokens
from homeserver.storage.db import Database
from homeserver.storage.db.migrate import load_deltas, migrate
from homeserver.storage.stores.search import IndexedText, SearchQuery, SearchStore

ROOM = "!room:test.local"
SEARCH_VERSION = 9


def query(term: str, **overrides: object) -> SearchQuery:
    fields: dict[str, object] = {
        "tokens": query_tokens(term),
        "room_ids": [ROOM],
        "keys": ["content.body", "content.name", "content.topic"],
        "types": ["m.room.message", "m.room.name", "m.room.topic"],
    }
    fields.update(overrides)
    return SearchQuery(**fields)  # type: ignore[arg-type]


async def insert_event(
    db: Database,
    stream: int,
    event_type: str,
    content: dict[str, object],
    *,
    state_key: str | None = None,
    redacted_by: str | None = None,
) -> str:
    event_id = f"$e{stream}"
    data = {"type": event_type, "content": content, "sender": "@a:test.local"}
    async with db.write() as txn:
        await txn.execute(
            "INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, "
            "depth, origin_server_ts, received_ts, json, redacted_by) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            stream,
            event_id,
            ROOM,
            event_type,
            state_key,
            "@a:test.local",
            stream,
            0,
            0,
            json.dumps(data),
            redacted_by,
        )
    return event_id


async def test_delta_indexes_events_stored_before_it(empty_db: Database, tmp_path: Path) -> None:
    older = tmp_path / "older"
    older.mkdir()
    for delta in load_deltas():
        if delta.version < SEARCH_VERSION:
            for path in delta.files:
                shutil.copy(path, older / path.name)
    await migrate(empty_db, deltas_dir=older)
    message = await insert_event(empty_db, 1, "m.room.message", {"body": "我们明天开会"})
    name = await insert_event(empty_db, 2, "m.room.name", {"name": "开会室"}, state_key="")
    await insert_event(empty_db, 3, "m.room.message", {"body": "开会"}, redacted_by="$r")
    await insert_event(empty_db, 4, "m.reaction", {"body": "开会"})
    await insert_event(empty_db, 5, "m.room.message", {"body": ["not", "text"]})
    await migrate(empty_db)
    store = SearchStore()
    async with empty_db.read() as conn:
        hits = await store.search(conn, query("开会", order_by="recent"), after=None, limit=10)
        assert [h.event_id for h in hits] == [name, message]
        assert await store.count(conn, query("开会")) == 2


async def _budget_messages(db: Database, *, padded: bool = False) -> list[IndexedText]:
    """Five indexed messages "budget 1" to "budget 5" at stream orderings 1 to 5
    (``padded``: message i's text grows with i, so ranks differ)."""
    return [
        IndexedText(
            event_id=await insert_event(db, i, "m.room.message", {"body": f"budget {i}"}),
            room_id=ROOM,
            stream_ordering=i,
            sender="@a:test.local",
            type="m.room.message",
            key="content.body",
            tokens=document_tokens(f"budget {'x ' * i}" if padded else f"budget {i}"),
        )
        for i in range(1, 6)
    ]


async def test_index_is_idempotent_and_pages_by_cursor(db: Database) -> None:
    store = SearchStore()
    texts = await _budget_messages(db, padded=True)
    async with db.write() as txn:
        await store.index(txn, texts)
        await store.index(txn, texts[:2])
    seen: list[str] = []
    after = None
    async with db.read() as conn:
        assert await store.count(conn, query("budget")) == 5
        while True:
            page = await store.search(conn, query("budget"), after=after, limit=2)
            if not page:
                break
            seen.extend(h.event_id for h in page)
            after = page[-1].cursor
    # Rank: the shortest text (highest share of "budget") first.
    assert seen == [t.event_id for t in texts]


async def test_query_needs_every_token_and_honours_senders(db: Database) -> None:
    store = SearchStore()
    event_id = await insert_event(db, 1, "m.room.message", {"body": "budget plan"})
    async with db.write() as txn:
        await store.index(
            txn,
            [
                IndexedText(
                    event_id,
                    ROOM,
                    1,
                    "@a:test.local",
                    "m.room.message",
                    "content.body",
                    document_tokens("budget plan"),
                )
            ],
        )
    async with db.read() as conn:
        assert await store.count(conn, query("budget plan")) == 1
        assert await store.count(conn, query("budget lunch")) == 0
        assert await store.count(conn, query("plan", senders=["@b:test.local"])) == 0
        assert await store.count(conn, query("plan", not_senders=["@a:test.local"])) == 0
        assert await store.count(conn, query("plan", types=["m.room.name"])) == 0
        assert await store.count(conn, query("plan", room_ids=[])) == 0


async def test_room_bounds_stop_a_room_at_a_stream_ordering(db: Database) -> None:
    store = SearchStore()
    texts = await _budget_messages(db)
    async with db.write() as txn:
        await store.index(txn, texts)
    bounded = query("budget", room_bounds={ROOM: 3}, order_by="recent")
    async with db.read() as conn:
        assert await store.count(conn, bounded) == 3
        page = await store.search(conn, bounded, after=None, limit=10)
        assert [h.stream_ordering for h in page] == [3, 2, 1]
        other_room = query("budget", room_ids=[ROOM, "!other:test.local"])
        assert await store.count(conn, other_room) == 5
        assert await store.count(conn, query("budget", room_bounds={"!other:test.local": 0})) == 5
