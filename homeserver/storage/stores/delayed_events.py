"""The ``delayed_events`` table: events scheduled with MSC4140's delay parameter.

A row is ``scheduled`` until it is sent (``sent``, with the event id) or
cancelled (``cancelled``; ``error`` holds the Matrix error when a failure
cancelled it). Finalised rows stay so that retried management requests get
the same answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.storage.db import Connection, Row

SCHEDULED = "scheduled"
SENT = "sent"
CANCELLED = "cancelled"

_COLUMNS = (
    "delay_id, user_id, device_id, room_id, event_type, state_key, content, delay_ms, "
    "running_since, send_ts, status, event_id, error"
)


@dataclass(frozen=True, slots=True)
class DelayedEvent:
    delay_id: str
    user_id: str
    device_id: str | None
    room_id: str
    event_type: str
    #: None for a message event
    state_key: str | None
    content: dict[str, Any]
    delay_ms: int
    running_since: int
    send_ts: int
    status: str
    event_id: str | None
    error: dict[str, Any] | None


def _row(row: Row) -> DelayedEvent:
    return DelayedEvent(
        delay_id=str(row[0]),
        user_id=str(row[1]),
        device_id=None if row[2] is None else str(row[2]),
        room_id=str(row[3]),
        event_type=str(row[4]),
        state_key=None if row[5] is None else str(row[5]),
        content=json.loads(row[6]),
        delay_ms=int(row[7]),
        running_since=int(row[8]),
        send_ts=int(row[9]),
        status=str(row[10]),
        event_id=None if row[11] is None else str(row[11]),
        error=None if row[12] is None else json.loads(row[12]),
    )


class DelayedEventStore:
    """Delayed events. Every method takes the connection first."""

    async def add(self, txn: Connection, event: DelayedEvent) -> None:
        await txn.execute(
            f"INSERT INTO delayed_events ({_COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL)",
            event.delay_id,
            event.user_id,
            event.device_id,
            event.room_id,
            event.event_type,
            event.state_key,
            encode_canonical_json(event.content).decode("utf-8"),
            event.delay_ms,
            event.running_since,
            event.send_ts,
            SCHEDULED,
        )

    async def get(self, conn: Connection, delay_id: str) -> DelayedEvent | None:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM delayed_events WHERE delay_id = $1", delay_id
        )
        return None if row is None else _row(row)

    async def scheduled_for_user(self, conn: Connection, user_id: str) -> list[DelayedEvent]:
        """The user's scheduled delayed events, soonest first."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM delayed_events WHERE user_id = $1 AND status = $2 "
            "ORDER BY send_ts, delay_id",
            user_id,
            SCHEDULED,
        )
        return [_row(r) for r in rows]

    async def count_scheduled(self, conn: Connection, user_id: str) -> tuple[int, int | None]:
        """``(how many the user has scheduled, the soonest send_ts or None)``."""
        row = await conn.fetchrow(
            "SELECT COUNT(*), MIN(send_ts) FROM delayed_events WHERE user_id = $1 AND status = $2",
            user_id,
            SCHEDULED,
        )
        assert row is not None
        return int(row[0]), None if row[1] is None else int(row[1])

    async def due(self, conn: Connection, now_ms: int, limit: int = 100) -> list[DelayedEvent]:
        """Scheduled events whose send time is at or before ``now_ms``, oldest first."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM delayed_events WHERE status = $1 AND send_ts <= $2 "
            "ORDER BY send_ts, delay_id LIMIT $3",
            SCHEDULED,
            now_ms,
            limit,
        )
        return [_row(r) for r in rows]

    async def next_send_ts(self, conn: Connection) -> int | None:
        """The soonest send time of any scheduled event, or None when none is scheduled."""
        value = await conn.fetchval(
            "SELECT MIN(send_ts) FROM delayed_events WHERE status = $1", SCHEDULED
        )
        return None if value is None else int(value)

    async def restart(self, txn: Connection, delay_id: str, now_ms: int) -> bool:
        """Restarts a scheduled event's timer from ``now_ms``; False when not scheduled."""
        changed = await txn.execute(
            "UPDATE delayed_events SET running_since = $2, send_ts = $2 + delay_ms "
            "WHERE delay_id = $1 AND status = $3",
            delay_id,
            now_ms,
            SCHEDULED,
        )
        return changed > 0

    async def finalise(
        self,
        txn: Connection,
        delay_id: str,
        status: str,
        now_ms: int,
        *,
        event_id: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Marks a scheduled event sent or cancelled; False when it was not scheduled."""
        changed = await txn.execute(
            "UPDATE delayed_events SET status = $2, event_id = $3, error = $4, finalised_ts = $5 "
            "WHERE delay_id = $1 AND status = $6",
            delay_id,
            status,
            event_id,
            None if error is None else encode_canonical_json(error).decode("utf-8"),
            now_ms,
            SCHEDULED,
        )
        return changed > 0

    async def has_scheduled_state(
        self, conn: Connection, room_id: str, event_type: str, state_key: str, except_user: str
    ) -> bool:
        """Whether anyone but ``except_user`` has a scheduled event for this state entry."""
        value = await conn.fetchval(
            "SELECT 1 FROM delayed_events WHERE room_id = $1 AND event_type = $2 "
            "AND state_key = $3 AND status = $4 AND user_id <> $5 LIMIT 1",
            room_id,
            event_type,
            state_key,
            SCHEDULED,
            except_user,
        )
        return value is not None

    async def cancel_state(
        self,
        txn: Connection,
        room_id: str,
        event_type: str,
        state_key: str,
        except_user: str,
        now_ms: int,
    ) -> int:
        """Cancels scheduled state events for one state entry, except ``except_user``'s."""
        return await txn.execute(
            "UPDATE delayed_events SET status = $1, finalised_ts = $2 "
            "WHERE room_id = $3 AND event_type = $4 AND state_key = $5 AND status = $6 "
            "AND user_id <> $7",
            CANCELLED,
            now_ms,
            room_id,
            event_type,
            state_key,
            SCHEDULED,
            except_user,
        )
