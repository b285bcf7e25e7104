"""The ``presence`` table (latest presence per local user) and the
``device_lists_stream`` table (users whose devices changed, by position)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from homeserver.storage.db import Connection, Row

_BATCH = 500


@dataclass(frozen=True, slots=True)
class PresenceRow:
    user_id: str
    state: str
    status_msg: str | None
    last_active_ts: int
    currently_active: bool
    stream_id: int


def _row(row: Row) -> PresenceRow:
    return PresenceRow(
        user_id=row["user_id"],
        state=row["state"],
        status_msg=row["status_msg"],
        last_active_ts=int(row["last_active_ts"]),
        currently_active=bool(row["currently_active"]),
        stream_id=int(row["stream_id"]),
    )


_COLUMNS = "user_id, state, status_msg, last_active_ts, currently_active, stream_id"


class PresenceStore:
    """Reads and writes presence and device-list changes."""

    async def upsert(self, txn: Connection, row: PresenceRow) -> None:
        await txn.execute(
            f"INSERT INTO presence ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state, "
            "status_msg = EXCLUDED.status_msg, last_active_ts = EXCLUDED.last_active_ts, "
            "currently_active = EXCLUDED.currently_active, stream_id = EXCLUDED.stream_id",
            row.user_id,
            row.state,
            row.status_msg,
            row.last_active_ts,
            row.currently_active,
            row.stream_id,
        )

    async def get(self, conn: Connection, user_id: str) -> PresenceRow | None:
        r = await conn.fetchrow(f"SELECT {_COLUMNS} FROM presence WHERE user_id = $1", user_id)
        return _row(r) if r is not None else None

    async def changes_for_users(
        self, conn: Connection, user_ids: Sequence[str], *, since: int, upto: int
    ) -> list[PresenceRow]:
        """Presence of ``user_ids`` changed in ``(since, upto]``."""
        out: list[PresenceRow] = []
        for start in range(0, len(user_ids), _BATCH):
            chunk = list(user_ids[start : start + _BATCH])
            placeholders = ", ".join(f"${i + 3}" for i in range(len(chunk)))
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM presence WHERE stream_id > $1 AND stream_id <= $2 "
                f"AND user_id IN ({placeholders}) ORDER BY stream_id",
                since,
                upto,
                *chunk,
            )
            out.extend(_row(r) for r in rows)
        return out

    # --- device lists ----------------------------------------------------------

    async def add_device_list_change(self, txn: Connection, user_id: str, stream_id: int) -> None:
        await txn.execute(
            "INSERT INTO device_lists_stream (stream_id, user_id) VALUES ($1, $2)",
            stream_id,
            user_id,
        )

    async def device_list_changes(self, conn: Connection, *, since: int, upto: int) -> set[str]:
        """Users whose devices changed in ``(since, upto]``."""
        rows = await conn.fetch(
            "SELECT DISTINCT user_id FROM device_lists_stream "
            "WHERE stream_id > $1 AND stream_id <= $2",
            since,
            upto,
        )
        return {r["user_id"] for r in rows}
