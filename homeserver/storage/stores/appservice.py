"""Application service delivery state: ``appservice_positions`` and
``appservice_txns`` (see ``homeserver.services.appservice.sender``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.storage.db import Connection


@dataclass(frozen=True, slots=True)
class PendingTxn:
    txn_id: int
    #: canonical JSON text of the transaction body
    body: str


@dataclass(frozen=True, slots=True)
class Position:
    #: the last events stream ordering already read into transactions (inclusive)
    event_position: int
    last_txn_id: int


class AppserviceStore:
    """Per-appservice positions and pending transactions."""

    async def get_position(self, conn: Connection, as_id: str) -> Position | None:
        row = await conn.fetchrow(
            "SELECT event_position, last_txn_id FROM appservice_positions WHERE as_id = $1",
            as_id,
        )
        if row is None:
            return None
        return Position(int(row["event_position"]), int(row["last_txn_id"]))

    async def init_position(self, txn: Connection, as_id: str, event_position: int) -> None:
        """Starts a new appservice's feed at ``event_position`` (no-op when known)."""
        await txn.execute(
            "INSERT INTO appservice_positions (as_id, event_position, last_txn_id) "
            "VALUES ($1, $2, 0) ON CONFLICT (as_id) DO NOTHING",
            as_id,
            event_position,
        )

    async def set_position(
        self, txn: Connection, as_id: str, event_position: int, last_txn_id: int
    ) -> None:
        await txn.execute(
            "UPDATE appservice_positions SET event_position = $2, last_txn_id = $3 "
            "WHERE as_id = $1",
            as_id,
            event_position,
            last_txn_id,
        )

    async def add_txn(
        self, txn: Connection, as_id: str, txn_id: int, body: str, created_ts: int
    ) -> None:
        await txn.execute(
            "INSERT INTO appservice_txns (as_id, txn_id, body, created_ts) VALUES ($1, $2, $3, $4)",
            as_id,
            txn_id,
            body,
            created_ts,
        )

    async def oldest_txn(self, conn: Connection, as_id: str) -> PendingTxn | None:
        row = await conn.fetchrow(
            "SELECT txn_id, body FROM appservice_txns WHERE as_id = $1 ORDER BY txn_id LIMIT 1",
            as_id,
        )
        return None if row is None else PendingTxn(int(row["txn_id"]), row["body"])

    async def count_txns(self, conn: Connection, as_id: str) -> int:
        row = await conn.fetchrow(
            "SELECT COUNT(*) AS n FROM appservice_txns WHERE as_id = $1", as_id
        )
        return int(row["n"]) if row is not None else 0

    async def delete_txn(self, txn: Connection, as_id: str, txn_id: int) -> None:
        await txn.execute(
            "DELETE FROM appservice_txns WHERE as_id = $1 AND txn_id = $2", as_id, txn_id
        )

    async def event_ids_after(
        self, conn: Connection, after: int, up_to: int, limit: int
    ) -> list[tuple[int, str, str]]:
        """``(stream_ordering, event_id, room_id)`` of the events with
        ``after < stream_ordering <= up_to``, oldest first, at most ``limit``."""
        rows = await conn.fetch(
            "SELECT stream_ordering, event_id, room_id FROM events "
            "WHERE stream_ordering > $1 AND stream_ordering <= $2 AND outlier = FALSE "
            f"ORDER BY stream_ordering LIMIT {int(limit)}",
            after,
            up_to,
        )
        return [(int(r["stream_ordering"]), r["event_id"], r["room_id"]) for r in rows]

    async def room_aliases(self, conn: Connection, room_id: str) -> list[str]:
        rows = await conn.fetch("SELECT room_alias FROM room_aliases WHERE room_id = $1", room_id)
        return [r["room_alias"] for r in rows]

    async def to_device_messages(
        self, conn: Connection, user_ids: Sequence[str], *, since: int, upto: int
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """``(user_id, device_id, message)`` queued for ``user_ids`` at positions
        in ``(since, upto]``, oldest first (for MSC3202 pushes)."""
        out: list[tuple[str, str, dict[str, Any]]] = []
        for start in range(0, len(user_ids), 500):
            chunk = list(user_ids[start : start + 500])
            placeholders = ", ".join(f"${i + 3}" for i in range(len(chunk)))
            rows = await conn.fetch(
                "SELECT user_id, device_id, message_json FROM device_inbox "
                "WHERE stream_id > $1 AND stream_id <= $2 "
                f"AND user_id IN ({placeholders}) ORDER BY stream_id",
                since,
                upto,
                *chunk,
            )
            out.extend((r["user_id"], r["device_id"], json.loads(r["message_json"])) for r in rows)
        return out
