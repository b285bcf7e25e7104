"""Server-side search: a token index of the searchable text of events.

``event_search`` has one row per indexed event (its searched key and how
many tokens it holds, for ranking); ``event_search_tokens`` one row per
(event, token) as ``homeserver.core.search_tokens`` makes them (words, and
CJK character bigrams and unigrams). Plain tables and B-tree indexes, so
SQLite and PostgreSQL find exactly the same events.

Events persisted before this delta are indexed here, in batches.
"""

from __future__ import annotations

import json
from typing import Any

from homeserver.core.search_tokens import SEARCH_KEYS, document_tokens, searchable_text

_TABLES = (
    """CREATE TABLE event_search (
        event_id TEXT PRIMARY KEY,
        room_id TEXT NOT NULL,
        stream_ordering BIGINT NOT NULL,
        sender TEXT NOT NULL,
        type TEXT NOT NULL,
        -- content.body, content.name or content.topic
        search_key TEXT NOT NULL,
        -- number of tokens (with repeats) in the text
        token_count INTEGER NOT NULL
    )""",
    "CREATE INDEX event_search_room ON event_search (room_id, stream_ordering)",
    """CREATE TABLE event_search_tokens (
        token TEXT NOT NULL,
        room_id TEXT NOT NULL,
        stream_ordering BIGINT NOT NULL,
        event_id TEXT NOT NULL,
        occurrences INTEGER NOT NULL,
        PRIMARY KEY (event_id, token)
    )""",
    "CREATE INDEX event_search_tokens_token ON event_search_tokens "
    "(token, room_id, stream_ordering)",
)

_BATCH = 500


async def run(conn: Any, dialect: Any) -> None:
    for statement in _TABLES:
        await conn.execute(statement)
    types = list(SEARCH_KEYS)
    after = -(2**62)
    while True:
        rows = await conn.fetch(
            "SELECT stream_ordering, event_id, room_id, type, state_key, sender, json "
            "FROM events WHERE stream_ordering > $1 AND type IN ($2, $3, $4) "
            "AND outlier = FALSE AND rejected_reason IS NULL AND redacted_by IS NULL "
            f"ORDER BY stream_ordering LIMIT {_BATCH}",
            after,
            *types,
        )
        if not rows:
            return
        for row in rows:
            after = int(row["stream_ordering"])
            try:
                content = json.loads(row["json"]).get("content")
            except (ValueError, AttributeError):
                continue
            if not isinstance(content, dict):
                continue
            found = searchable_text(row["type"], row["state_key"], content)
            if found is None:
                continue
            counts = document_tokens(found[1])
            if not counts:
                continue
            await conn.execute(
                "INSERT INTO event_search (event_id, room_id, stream_ordering, sender, type, "
                "search_key, token_count) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                row["event_id"],
                row["room_id"],
                after,
                row["sender"],
                row["type"],
                found[0],
                sum(counts.values()),
            )
            await conn.executemany(
                "INSERT INTO event_search_tokens (token, room_id, stream_ordering, event_id, "
                "occurrences) VALUES ($1, $2, $3, $4, $5)",
                [(token, row["room_id"], after, row["event_id"], n) for token, n in counts.items()],
            )
