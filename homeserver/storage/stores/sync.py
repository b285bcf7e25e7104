"""Read queries of /sync over the room tables, batched across rooms.

Every query takes an upper bound ``upto`` (the room stream position the
sync token names) so a response never includes an event past its
``next_batch``. Lists of rooms are sent in chunks of :data:`_BATCH`
placeholders.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.core.events import PDU
from homeserver.core.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage.db import Connection, Row
from homeserver.storage.stores.events import StoredEvent

_BATCH = 400

_EVENT_COLUMNS = (
    "e.event_id, e.room_id, e.stream_ordering, e.state_group, e.redacted_by, "
    "e.txn_device_id, e.txn_id, e.json, e.rejected_reason, r.room_version"
)


def _range_conditions(bounds: Sequence[tuple[str, int, int]]) -> tuple[str, list[Any]]:
    """SQL matching events of ``events e`` in any of ``(room_id, after, upto)``
    (``after < stream_ordering <= upto``), and its arguments ($1 on)."""
    conditions: list[str] = []
    args: list[Any] = []
    for room_id, after, upto in bounds:
        n = len(args)
        conditions.append(
            f"(e.room_id = ${n + 1} AND e.stream_ordering > ${n + 2} "
            f"AND e.stream_ordering <= ${n + 3})"
        )
        args.extend((room_id, after, upto))
    return " OR ".join(conditions), args


@dataclass(frozen=True, slots=True)
class MembershipAt:
    """A user's latest membership in a room at a stream position."""

    room_id: str
    membership: str
    event_id: str
    stream_ordering: int
    forgotten: bool


def _stored(row: Row) -> StoredEvent:
    data: dict[str, Any] = json.loads(row["json"])
    return StoredEvent(
        pdu=PDU(row["event_id"], KNOWN_ROOM_VERSIONS[row["room_version"]], data),
        stream_ordering=int(row["stream_ordering"]),
        state_group=row["state_group"],
        redacted_by=row["redacted_by"],
        txn_device_id=row["txn_device_id"],
        txn_id=row["txn_id"],
        rejected_reason=row["rejected_reason"],
    )


def _placeholders(first: int, count: int) -> str:
    return ", ".join(f"${first + i}" for i in range(count))


class SyncStore:
    """Batched reads for /sync. Every method takes the connection first."""

    async def memberships_at(self, conn: Connection, user_id: str, upto: int) -> list[MembershipAt]:
        """The user's latest membership in every room, as of position ``upto``."""
        rows = await conn.fetch(
            "SELECT m.room_id, m.membership, m.event_id, m.stream_ordering, m.forgotten "
            "FROM room_memberships m WHERE m.user_id = $1 AND m.stream_ordering = ("
            " SELECT MAX(m2.stream_ordering) FROM room_memberships m2"
            " WHERE m2.user_id = $1 AND m2.room_id = m.room_id AND m2.stream_ordering <= $2)",
            user_id,
            upto,
        )
        return [
            MembershipAt(
                room_id=r["room_id"],
                membership=r["membership"],
                event_id=r["event_id"],
                stream_ordering=int(r["stream_ordering"]),
                forgotten=bool(r["forgotten"]),
            )
            for r in rows
        ]

    async def membership_before(
        self, conn: Connection, user_id: str, room_ids: Sequence[str], before: int
    ) -> dict[str, str]:
        """``room → membership`` of the user as of position ``before`` (inclusive)."""
        out: dict[str, str] = {}
        for start in range(0, len(room_ids), _BATCH):
            chunk = list(room_ids[start : start + _BATCH])
            rows = await conn.fetch(
                "SELECT m.room_id, m.membership FROM room_memberships m "
                "WHERE m.user_id = $1 AND m.room_id IN ("
                + _placeholders(3, len(chunk))
                + ") AND m.stream_ordering = (SELECT MAX(m2.stream_ordering) "
                "FROM room_memberships m2 WHERE m2.user_id = $1 AND m2.room_id = m.room_id "
                "AND m2.stream_ordering <= $2)",
                user_id,
                before,
                *chunk,
            )
            out.update({r["room_id"]: r["membership"] for r in rows})
        return out

    async def recent_events(
        self,
        conn: Connection,
        bounds: Sequence[tuple[str, int, int]],
        limit: int,
    ) -> dict[str, list[StoredEvent]]:
        """The newest events of many rooms in one query per chunk.

        Args:
            bounds: ``(room_id, after, upto)``: events with
                ``after < stream_ordering <= upto``.
            limit: at most this many of the newest per room.

        Returns:
            ``room → events``, oldest first.
        """
        out: dict[str, list[StoredEvent]] = {room_id: [] for room_id, _, _ in bounds}
        for start in range(0, len(bounds), _BATCH // 3):
            chunk = bounds[start : start + _BATCH // 3]
            conditions, args = _range_conditions(chunk)
            rows = await conn.fetch(
                f"SELECT * FROM (SELECT {_EVENT_COLUMNS}, ROW_NUMBER() OVER ("
                "PARTITION BY e.room_id ORDER BY e.stream_ordering DESC) AS rn "
                "FROM events e JOIN rooms r ON r.room_id = e.room_id "
                f"WHERE e.outlier = FALSE AND ({conditions})) AS t "
                f"WHERE t.rn <= {int(limit)} ORDER BY t.stream_ordering",
                *args,
            )
            for row in rows:
                out[row["room_id"]].append(_stored(row))
        return out

    async def recent_event_ids(
        self,
        conn: Connection,
        bounds: Sequence[tuple[str, int, int]],
        limit: int,
    ) -> dict[str, list[str]]:
        """:meth:`recent_events` without the events: their ids only, so a
        caller holding most events in memory decodes none.

        Returns:
            ``room → event ids``, oldest first (every room of ``bounds``).
        """
        out: dict[str, list[str]] = {room_id: [] for room_id, _, _ in bounds}
        if len(bounds) == 1:
            # One room (most incremental syncs): a plain index range, without
            # the window function the many-room form needs.
            room_id, after, upto = bounds[0]
            rows = await conn.fetch(
                "SELECT event_id FROM events WHERE room_id = $1 AND stream_ordering > $2 "
                "AND stream_ordering <= $3 AND outlier = FALSE "
                f"ORDER BY stream_ordering DESC LIMIT {int(limit)}",
                room_id,
                after,
                upto,
            )
            out[room_id] = [row["event_id"] for row in reversed(rows)]
            return out
        for start in range(0, len(bounds), _BATCH // 3):
            chunk = bounds[start : start + _BATCH // 3]
            conditions, args = _range_conditions(chunk)
            rows = await conn.fetch(
                "SELECT t.room_id, t.event_id FROM (SELECT e.room_id, e.event_id, "
                "e.stream_ordering, ROW_NUMBER() OVER ("
                "PARTITION BY e.room_id ORDER BY e.stream_ordering DESC) AS rn "
                f"FROM events e WHERE e.outlier = FALSE AND ({conditions})) AS t "
                f"WHERE t.rn <= {int(limit)} ORDER BY t.stream_ordering",
                *args,
            )
            for row in rows:
                out[row["room_id"]].append(row["event_id"])
        return out

    async def rooms_with_events(
        self, conn: Connection, room_ids: Sequence[str], after: int, upto: int
    ) -> set[str]:
        """The rooms among ``room_ids`` with an event in ``(after, upto]``."""
        out: set[str] = set()
        for start in range(0, len(room_ids), _BATCH):
            chunk = list(room_ids[start : start + _BATCH])
            rows = await conn.fetch(
                "SELECT DISTINCT room_id FROM events WHERE stream_ordering > $1 "
                f"AND stream_ordering <= $2 AND room_id IN ({_placeholders(3, len(chunk))})",
                after,
                upto,
                *chunk,
            )
            out.update(r["room_id"] for r in rows)
        return out

    async def state_event_ids_between(
        self, conn: Connection, room_id: str, after: int, before: int
    ) -> list[str]:
        """Ids of the room's state events with ``after < stream_ordering < before``,
        oldest first."""
        rows = await conn.fetch(
            "SELECT event_id FROM events WHERE room_id = $1 AND state_key IS NOT NULL "
            "AND stream_ordering > $2 AND stream_ordering < $3 AND outlier = FALSE "
            "ORDER BY stream_ordering",
            room_id,
            after,
            before,
        )
        return [r["event_id"] for r in rows]

    async def state_group_before(self, conn: Connection, room_id: str, before: int) -> int | None:
        """The state group of the room's newest event below position ``before``:
        the state just before the event at ``before`` (None: no such event)."""
        row = await conn.fetchrow(
            "SELECT state_group FROM events WHERE room_id = $1 AND stream_ordering < $2 "
            "AND outlier = FALSE ORDER BY stream_ordering DESC LIMIT 1",
            room_id,
            before,
        )
        if row is None or row["state_group"] is None:
            return None
        return int(row["state_group"])

    async def membership_changes_at(
        self, conn: Connection, room_ids: Sequence[str], after: int, upto: int
    ) -> list[tuple[str, str, str, int]]:
        """``(room_id, user_id, membership, stream_ordering)`` of every membership
        event in the rooms with ``after < stream_ordering <= upto``, oldest first."""
        out: list[tuple[str, str, str, int]] = []
        for start in range(0, len(room_ids), _BATCH):
            chunk = list(room_ids[start : start + _BATCH])
            rows = await conn.fetch(
                "SELECT room_id, user_id, membership, stream_ordering FROM room_memberships "
                "WHERE stream_ordering > $1 AND stream_ordering <= $2 "
                f"AND room_id IN ({_placeholders(3, len(chunk))}) ORDER BY stream_ordering",
                after,
                upto,
                *chunk,
            )
            out.extend(
                (r["room_id"], r["user_id"], r["membership"], int(r["stream_ordering"]))
                for r in rows
            )
        return out
