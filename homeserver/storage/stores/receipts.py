"""The ``receipts`` table: the latest receipt per (room, type, user, thread).

``stream_id`` is the position of the row's latest change in the receipts
stream; /sync reads the rows of its rooms changed in ``(since, upto]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.storage.db import Connection
from homeserver.storage.stores.push_changes import note_read_change

#: The thread id stored for an unthreaded receipt.
UNTHREADED = ""

_BATCH = 500


@dataclass(frozen=True, slots=True)
class Receipt:
    room_id: str
    receipt_type: str
    user_id: str
    #: None for an unthreaded receipt
    thread_id: str | None
    event_id: str
    data: dict[str, Any]
    stream_id: int


class ReceiptStore:
    """Reads and writes receipts. Every method takes the connection first."""

    async def upsert(
        self,
        txn: Connection,
        *,
        room_id: str,
        receipt_type: str,
        user_id: str,
        thread_id: str | None,
        event_id: str,
        data: dict[str, Any],
        stream_id: int,
    ) -> None:
        """Replaces the user's receipt of this type (and thread) in the room."""
        note_read_change(txn, user_id)
        await txn.execute(
            "INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, data, "
            "stream_id) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (room_id, receipt_type, user_id, thread_id) DO UPDATE SET "
            "event_id = EXCLUDED.event_id, data = EXCLUDED.data, stream_id = EXCLUDED.stream_id",
            room_id,
            receipt_type,
            user_id,
            thread_id or UNTHREADED,
            event_id,
            encode_canonical_json(data).decode("utf-8"),
            stream_id,
        )

    async def get_event_of(
        self,
        conn: Connection,
        room_id: str,
        receipt_type: str,
        user_id: str,
        thread_id: str | None = None,
    ) -> str | None:
        """The event the user's receipt of this type points at, or None."""
        event_id = await conn.fetchval(
            "SELECT event_id FROM receipts WHERE room_id = $1 AND receipt_type = $2 "
            "AND user_id = $3 AND thread_id = $4",
            room_id,
            receipt_type,
            user_id,
            thread_id or UNTHREADED,
        )
        return str(event_id) if event_id is not None else None

    async def changes_in_rooms(
        self, conn: Connection, room_ids: Sequence[str], *, since: int, upto: int
    ) -> list[Receipt]:
        """Receipts of ``room_ids`` changed in ``(since, upto]`` (every row when
        ``since`` is 0: an initial sync gets each room's latest receipts)."""
        out: list[Receipt] = []
        for start in range(0, len(room_ids), _BATCH):
            chunk = list(room_ids[start : start + _BATCH])
            placeholders = ", ".join(f"${i + 3}" for i in range(len(chunk)))
            rows = await conn.fetch(
                "SELECT room_id, receipt_type, user_id, thread_id, event_id, data, stream_id "
                f"FROM receipts WHERE stream_id > $1 AND stream_id <= $2 "
                f"AND room_id IN ({placeholders}) ORDER BY stream_id",
                since,
                upto,
                *chunk,
            )
            out.extend(
                Receipt(
                    room_id=r["room_id"],
                    receipt_type=r["receipt_type"],
                    user_id=r["user_id"],
                    thread_id=r["thread_id"] or None,
                    event_id=r["event_id"],
                    data=json.loads(r["data"]),
                    stream_id=int(r["stream_id"]),
                )
                for r in rows
            )
        return out
