"""The ``account_data`` table and its stream.

Each row is one (user, room, type) with its latest content; ``room_id`` is
``''`` for global account data. ``stream_id`` is the position of the row's
latest change in the account-data stream. Positions come from the single row
of ``account_data_stream_head``, bumped inside the writing transaction: the
row lock makes concurrent PostgreSQL writers take turns until commit, so
positions are unique and become visible in increasing order (SQLite has one
writer anyway). A reader that has seen everything up to position X therefore
only ever needs rows with ``stream_id > X``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.storage.db import Connection

#: The room id stored for global account data.
GLOBAL = ""


@dataclass(frozen=True, slots=True)
class AccountDataChange:
    """One row of the account-data stream."""

    stream_id: int
    #: None for global account data.
    room_id: str | None
    type: str
    content: dict[str, Any]


class AccountDataStore:
    """Reads and writes ``account_data``. Every method takes the connection first."""

    async def get(
        self, conn: Connection, user_id: str, room_id: str | None, data_type: str
    ) -> dict[str, Any] | None:
        """The content of one entry, or None when it was never set.

        Args:
            room_id: the room, or None for global account data.
        """
        raw = await conn.fetchval(
            "SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3",
            user_id,
            room_id or GLOBAL,
            data_type,
        )
        if raw is None:
            return None
        content: dict[str, Any] = json.loads(raw)
        return content

    async def put(
        self,
        txn: Connection,
        user_id: str,
        room_id: str | None,
        data_type: str,
        content: dict[str, Any],
    ) -> int:
        """Sets one entry and advances the stream.

        Args:
            txn: a write transaction (the stream position is allocated in it).
            room_id: the room, or None for global account data.
            content: a JSON object; stored as canonical JSON.

        Returns:
            The stream position of this change.
        """
        stream_id = await self.next_stream_id(txn)
        await txn.execute(
            "INSERT INTO account_data (user_id, room_id, type, content, stream_id) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, room_id, type) DO UPDATE SET "
            "content = EXCLUDED.content, stream_id = EXCLUDED.stream_id",
            user_id,
            room_id or GLOBAL,
            data_type,
            encode_canonical_json(content).decode("utf-8"),
            stream_id,
        )
        return stream_id

    async def next_stream_id(self, txn: Connection) -> int:
        """Allocates the next stream position (call inside the write transaction)."""
        position = await txn.fetchval(
            "UPDATE account_data_stream_head SET position = position + 1 "
            "WHERE singleton = 1 RETURNING position"
        )
        return int(position)

    async def current_stream_id(self, conn: Connection) -> int:
        """The latest allocated position: every change at or below it is committed
        or was rolled back (never still pending)."""
        position = await conn.fetchval(
            "SELECT position FROM account_data_stream_head WHERE singleton = 1"
        )
        return int(position)

    async def changes_since(
        self, conn: Connection, user_id: str, since: int, upto: int | None = None
    ) -> list[AccountDataChange]:
        """The user's entries changed after ``since`` (exclusive), up to ``upto``
        (inclusive; None means no upper bound), oldest first. Each entry appears
        once, with its latest content."""
        sql = (
            "SELECT stream_id, room_id, type, content FROM account_data "
            "WHERE user_id = $1 AND stream_id > $2"
        )
        args: list[Any] = [user_id, since]
        if upto is not None:
            sql += " AND stream_id <= $3"
            args.append(upto)
        rows = await conn.fetch(sql + " ORDER BY stream_id", *args)
        return [
            AccountDataChange(
                stream_id=int(r["stream_id"]),
                room_id=r["room_id"] or None,
                type=r["type"],
                content=json.loads(r["content"]),
            )
            for r in rows
        ]
