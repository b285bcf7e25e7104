"""The to-device inbox (``device_inbox``) and its txn ids (``to_device_txns``).

A message is stored once per target device with a position in the to-device
stream. /sync returns a device's messages in ``(since, upto]``; the next sync
with a ``since`` at or past a message's position acknowledges it, and the
message is then deleted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.storage.db import Connection


@dataclass(frozen=True, slots=True)
class InboxMessage:
    stream_id: int
    message: dict[str, Any]


class ToDeviceStore:
    """Reads and writes the to-device inbox. Every method takes the connection first."""

    async def add_messages(
        self, txn: Connection, rows: Sequence[tuple[str, str, int, dict[str, Any]]]
    ) -> None:
        """Queues messages: ``(user_id, device_id, stream_id, message)`` rows."""
        if not rows:
            return
        await txn.executemany(
            "INSERT INTO device_inbox (user_id, device_id, stream_id, message_json) "
            "VALUES ($1, $2, $3, $4)",
            [
                (user, device, sid, encode_canonical_json(msg).decode("utf-8"))
                for user, device, sid, msg in rows
            ],
        )

    async def get_messages(
        self, conn: Connection, user_id: str, device_id: str, *, upto: int, limit: int
    ) -> list[InboxMessage]:
        """The device's queued messages up to ``upto`` (inclusive), oldest first."""
        rows = await conn.fetch(
            "SELECT stream_id, message_json FROM device_inbox "
            "WHERE user_id = $1 AND device_id = $2 AND stream_id <= $3 "
            f"ORDER BY stream_id LIMIT {int(limit)}",
            user_id,
            device_id,
            upto,
        )
        return [InboxMessage(int(r["stream_id"]), json.loads(r["message_json"])) for r in rows]

    async def delete_acknowledged(
        self, txn: Connection, user_id: str, device_id: str, upto: int
    ) -> int:
        """Deletes the device's messages at or below ``upto``; returns how many."""
        return await txn.execute(
            "DELETE FROM device_inbox WHERE user_id = $1 AND device_id = $2 AND stream_id <= $3",
            user_id,
            device_id,
            upto,
        )

    async def has_pending(self, conn: Connection, user_id: str, device_id: str, upto: int) -> bool:
        """Whether any message at or below ``upto`` is still queued for the device."""
        row = await conn.fetchval(
            "SELECT 1 FROM device_inbox WHERE user_id = $1 AND device_id = $2 "
            "AND stream_id <= $3 LIMIT 1",
            user_id,
            device_id,
            upto,
        )
        return row is not None

    async def record_txn(
        self, txn: Connection, user_id: str, device_id: str, txn_path: str, now_ms: int
    ) -> bool:
        """Records a txn id; False when it was already used (a retry)."""
        inserted = await txn.fetchval(
            "INSERT INTO to_device_txns (user_id, device_id, txn_path, created_ts) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device_id, txn_path) DO NOTHING "
            "RETURNING user_id",
            user_id,
            device_id,
            txn_path,
            now_ms,
        )
        return inserted is not None
