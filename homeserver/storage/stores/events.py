"""The ``events`` table and the per-event index tables written with it
(``room_memberships``, ``event_relations``).

An event row keeps the wire PDU as canonical JSON, never rewritten:
redaction is applied when the event is served (``redacted_by`` says by
which event). Two orders matter:

- stream order (``stream_ordering``): the order this server persisted
  events in; what /sync follows;
- topological order (``depth``, ``stream_ordering``): the room's history
  order; what /messages and /context follow.

A *topological key* ``(depth, stream_ordering)`` names an event's place in
history; pagination positions are gaps between keys (see ``paginate``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from homeserver.core.events import PDU
from homeserver.core.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage.db import Connection, Row

#: ``(depth, stream_ordering)``.
TopoKey = tuple[int, int]

_BATCH = 500

_COLUMNS = (
    "e.event_id, e.stream_ordering, e.state_group, e.redacted_by, e.txn_device_id, "
    "e.txn_id, e.json, e.rejected_reason, r.room_version"
)
_FROM = " FROM events e JOIN rooms r ON r.room_id = e.room_id "


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A persisted event and what we know about it beyond its JSON."""

    pdu: PDU
    stream_ordering: int
    #: the state after this event
    state_group: int | None
    redacted_by: str | None = None
    txn_device_id: str | None = None
    txn_id: str | None = None
    rejected_reason: str | None = None

    @property
    def topo_key(self) -> TopoKey:
        return (self.pdu.depth, self.stream_ordering)


def _stored(row: Row) -> StoredEvent:
    room_version = KNOWN_ROOM_VERSIONS[row["room_version"]]
    data: dict[str, Any] = json.loads(row["json"])
    return StoredEvent(
        pdu=PDU(row["event_id"], room_version, data),
        stream_ordering=int(row["stream_ordering"]),
        state_group=row["state_group"],
        redacted_by=row["redacted_by"],
        txn_device_id=row["txn_device_id"],
        txn_id=row["txn_id"],
        rejected_reason=row["rejected_reason"],
    )


def _relation(pdu: PDU) -> tuple[str, str, str | None] | None:
    relates_to = pdu.content.get("m.relates_to")
    if not isinstance(relates_to, dict):
        return None
    rel_type, target = relates_to.get("rel_type"), relates_to.get("event_id")
    if not isinstance(rel_type, str) or not isinstance(target, str):
        return None
    key = relates_to.get("key")
    return target, rel_type, key if isinstance(key, str) else None


class EventStore:
    """Event rows and their indexes. Every method takes the connection first."""

    async def insert(
        self,
        txn: Connection,
        stored: StoredEvent,
        *,
        json_text: str,
        received_ts: int,
    ) -> None:
        """Inserts the event row plus its membership and relation rows.

        Args:
            txn: the write transaction (the caller's persist transaction).
            stored: the event, its stream ordering, state group and txn ids.
            json_text: the PDU's canonical JSON (already encoded by the caller,
                who also checked its size).
            received_ts: when we received (here: created) the event, in ms.
        """
        pdu = stored.pdu
        await txn.execute(
            "INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, "
            "depth, origin_server_ts, received_ts, json, state_group, txn_device_id, txn_id) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            stored.stream_ordering,
            pdu.event_id,
            pdu.room_id,
            pdu.type,
            pdu.state_key,
            pdu.sender,
            pdu.depth,
            pdu.origin_server_ts,
            received_ts,
            json_text,
            stored.state_group,
            stored.txn_device_id,
            stored.txn_id,
        )
        if pdu.type == "m.room.member" and pdu.state_key is not None:
            await txn.execute(
                "INSERT INTO room_memberships "
                "(event_id, room_id, user_id, sender, membership, stream_ordering) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                pdu.event_id,
                pdu.room_id,
                pdu.state_key,
                pdu.sender,
                pdu.membership or "",
                stored.stream_ordering,
            )
        relation = _relation(pdu)
        if relation is not None:
            target, rel_type, key = relation
            await txn.execute(
                "INSERT INTO event_relations (event_id, room_id, relates_to_id, rel_type, "
                "aggregation_key, sender, type, stream_ordering) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                pdu.event_id,
                pdu.room_id,
                target,
                rel_type,
                key,
                pdu.sender,
                pdu.type,
                stored.stream_ordering,
            )

    async def mark_redacted(self, txn: Connection, event_id: str, redaction_id: str) -> None:
        """Records that ``redaction_id`` applies to ``event_id`` (first one wins)."""
        await txn.execute(
            "UPDATE events SET redacted_by = $2 WHERE event_id = $1 AND redacted_by IS NULL",
            event_id,
            redaction_id,
        )

    async def get_events(
        self, conn: Connection, event_ids: Iterable[str]
    ) -> dict[str, StoredEvent]:
        """The events among ``event_ids`` that we hold, by id."""
        ids = list(dict.fromkeys(event_ids))
        out: dict[str, StoredEvent] = {}
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            placeholders = ", ".join(f"${i + 1}" for i in range(len(chunk)))
            rows = await conn.fetch(
                f"SELECT {_COLUMNS}{_FROM}WHERE e.event_id IN ({placeholders})", *chunk
            )
            for row in rows:
                stored = _stored(row)
                out[stored.pdu.event_id] = stored
        return out

    async def get_room_events_topological(
        self,
        conn: Connection,
        room_id: str,
        *,
        from_key: TopoKey,
        backwards: bool,
        limit: int,
        to_key: TopoKey | None = None,
    ) -> list[StoredEvent]:
        """A page of a room's history in topological order.

        Positions are gaps: ``from_key`` is the key of the first event *after*
        the gap. Backwards returns events with key < ``from_key`` (newest
        first) and, with ``to_key``, key >= ``to_key``; forwards returns
        key >= ``from_key`` (oldest first) and, with ``to_key``, key < ``to_key``.
        """
        if backwards:
            cond, order = "(e.depth, e.stream_ordering) < ($2, $3)", "DESC"
            bound = "(e.depth, e.stream_ordering) >= ($4, $5)"
        else:
            cond, order = "(e.depth, e.stream_ordering) >= ($2, $3)", "ASC"
            bound = "(e.depth, e.stream_ordering) < ($4, $5)"
        args: list[object] = [room_id, from_key[0], from_key[1]]
        sql = f"SELECT {_COLUMNS}{_FROM}WHERE e.room_id = $1 AND e.outlier = FALSE AND {cond}"
        if to_key is not None:
            sql += f" AND {bound}"
            args.extend(to_key)
        sql += f" ORDER BY e.depth {order}, e.stream_ordering {order} LIMIT {int(limit)}"
        return [_stored(r) for r in await conn.fetch(sql, *args)]

    async def get_room_events_stream(
        self, conn: Connection, room_id: str, *, after: int, up_to: int, limit: int
    ) -> list[StoredEvent]:
        """Events with ``after < stream_ordering <= up_to``, newest last, at most
        ``limit`` of the newest."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS}{_FROM}WHERE e.room_id = $1 AND e.stream_ordering > $2 "
            f"AND e.stream_ordering <= $3 AND e.outlier = FALSE "
            f"ORDER BY e.stream_ordering DESC LIMIT {int(limit)}",
            room_id,
            after,
            up_to,
        )
        return [_stored(r) for r in reversed(rows)]

    async def max_topo_key(
        self, conn: Connection, room_id: str, *, below_stream: int | None = None
    ) -> TopoKey | None:
        """The topological key of the room's newest event (optionally among
        those with stream_ordering < ``below_stream``)."""
        sql = "SELECT depth, stream_ordering FROM events WHERE room_id = $1 AND outlier = FALSE"
        args: list[object] = [room_id]
        if below_stream is not None:
            sql += " AND stream_ordering < $2"
            args.append(below_stream)
        row = await conn.fetchrow(sql + " ORDER BY depth DESC, stream_ordering DESC LIMIT 1", *args)
        return (int(row[0]), int(row[1])) if row is not None else None

    async def membership_event_of(
        self, conn: Connection, room_id: str, user_id: str, *, include_forgotten: bool = True
    ) -> tuple[str, str, bool] | None:
        """The user's latest membership event in the room: (event_id, membership, forgotten)."""
        row = await conn.fetchrow(
            "SELECT event_id, membership, forgotten FROM room_memberships "
            "WHERE room_id = $1 AND user_id = $2 ORDER BY stream_ordering DESC LIMIT 1",
            room_id,
            user_id,
        )
        if row is None or (not include_forgotten and bool(row["forgotten"])):
            return None
        return row["event_id"], row["membership"], bool(row["forgotten"])

    async def forget(self, txn: Connection, room_id: str, user_id: str) -> None:
        """Marks every membership of the user in the room as forgotten."""
        await txn.execute(
            "UPDATE room_memberships SET forgotten = TRUE WHERE room_id = $1 AND user_id = $2",
            room_id,
            user_id,
        )

    async def room_max_depth(self, conn: Connection, room_id: str) -> int:
        depth = await conn.fetchval("SELECT MAX(depth) FROM events WHERE room_id = $1", room_id)
        return int(depth or 0)
