"""Queries over ``event_relations`` (rows written with each event, see
``EventStore.insert``).

A relation whose child event has been redacted no longer counts: every query
joins the child's ``events`` row and skips it when ``redacted_by`` is set, so
a redaction removes the relation from pagination and aggregation without
rewriting the row.

Relation pages follow the room's topological order ``(depth,
stream_ordering)``, the same keys /messages paginates with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from homeserver.storage.db import Connection
from homeserver.storage.stores.events import TopoKey

_BATCH = 500
#: How many relation hops ``children(recurse=True)`` follows.
MAX_RECURSION_DEPTH = 3


@dataclass(frozen=True, slots=True)
class Relation:
    event_id: str
    parent_id: str
    rel_type: str
    sender: str
    type: str


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    root_id: str
    count: int
    latest_event_id: str
    #: the given user sent a reply in the thread
    user_replied: bool


@dataclass(frozen=True, slots=True)
class ThreadActivity:
    root_id: str
    #: stream ordering of the newest reply
    latest: int


def _placeholders(start: int, count: int) -> str:
    return ", ".join(f"${start + i}" for i in range(count))


class RelationStore:
    """Reads relation rows. Every method takes the connection first."""

    async def children(
        self,
        conn: Connection,
        room_id: str,
        parent_id: str,
        *,
        rel_type: str | None,
        event_type: str | None,
        from_key: TopoKey,
        to_key: TopoKey | None,
        backwards: bool,
        limit: int,
        recurse: bool,
    ) -> list[tuple[str, TopoKey]]:
        """A page of the events relating to ``parent_id``: ``(event_id, key)``.

        Positions are gaps, as in ``EventStore.get_room_events_topological``:
        backwards returns keys < ``from_key`` (newest first, >= ``to_key``),
        forwards keys >= ``from_key`` (oldest first, < ``to_key``). With
        ``recurse``, events relating to those events are included too, up to
        ``MAX_RECURSION_DEPTH`` hops; the type filters apply at every hop.
        """
        args: list[object] = [parent_id, room_id, from_key[0], from_key[1]]
        if recurse:
            source = (
                "WITH RECURSIVE tree (event_id, hops) AS ("
                " SELECT event_id, 1 FROM event_relations WHERE relates_to_id = $1"
                " UNION SELECT r.event_id, t.hops + 1 FROM event_relations r"
                f" JOIN tree t ON r.relates_to_id = t.event_id WHERE t.hops < {MAX_RECURSION_DEPTH}"
                ") SELECT DISTINCT e.event_id, e.depth, e.stream_ordering"
                " FROM tree JOIN event_relations rel ON rel.event_id = tree.event_id"
                " JOIN events e ON e.event_id = rel.event_id"
                " WHERE e.room_id = $2"
            )
        else:
            source = (
                "SELECT e.event_id, e.depth, e.stream_ordering FROM event_relations rel"
                " JOIN events e ON e.event_id = rel.event_id"
                " WHERE rel.relates_to_id = $1 AND e.room_id = $2"
            )
        sql = source + " AND e.redacted_by IS NULL AND e.outlier = FALSE"
        if backwards:
            sql += " AND (e.depth, e.stream_ordering) < ($3, $4)"
            order = "DESC"
        else:
            sql += " AND (e.depth, e.stream_ordering) >= ($3, $4)"
            order = "ASC"
        if to_key is not None:
            bound = ">=" if backwards else "<"
            args.extend(to_key)
            sql += f" AND (e.depth, e.stream_ordering) {bound} (${len(args) - 1}, ${len(args)})"
        if rel_type is not None:
            args.append(rel_type)
            sql += f" AND rel.rel_type = ${len(args)}"
        if event_type is not None:
            args.append(event_type)
            sql += f" AND rel.type = ${len(args)}"
        sql += f" ORDER BY e.depth {order}, e.stream_ordering {order} LIMIT {int(limit)}"
        rows = await conn.fetch(sql, *args)
        return [(r[0], (int(r[1]), int(r[2]))) for r in rows]

    async def relations_of(
        self, conn: Connection, parent_ids: Sequence[str], rel_types: Sequence[str]
    ) -> list[Relation]:
        """The live (unredacted) relations of the given types to any of ``parent_ids``."""
        out: list[Relation] = []
        ids = list(dict.fromkeys(parent_ids))
        types = list(rel_types)
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            rows = await conn.fetch(
                "SELECT r.event_id, r.relates_to_id, r.rel_type, r.sender, r.type"
                " FROM event_relations r JOIN events e ON e.event_id = r.event_id"
                f" WHERE r.relates_to_id IN ({_placeholders(1, len(chunk))})"
                f" AND r.rel_type IN ({_placeholders(len(chunk) + 1, len(types))})"
                " AND e.redacted_by IS NULL"
                " ORDER BY r.stream_ordering",
                *chunk,
                *types,
            )
            out.extend(Relation(r[0], r[1], r[2], r[3], r[4]) for r in rows)
        return out

    async def thread_summaries(
        self, conn: Connection, root_ids: Sequence[str], user_id: str
    ) -> dict[str, ThreadSummary]:
        """Reply count, newest reply and the user's participation per thread root."""
        out: dict[str, ThreadSummary] = {}
        ids = list(dict.fromkeys(root_ids))
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            rows = await conn.fetch(
                "SELECT r.relates_to_id, COUNT(*), MAX(r.stream_ordering),"
                " MAX(CASE WHEN r.sender = $1 THEN 1 ELSE 0 END)"
                " FROM event_relations r JOIN events e ON e.event_id = r.event_id"
                f" WHERE r.relates_to_id IN ({_placeholders(2, len(chunk))})"
                " AND r.rel_type = 'm.thread' AND e.redacted_by IS NULL"
                " GROUP BY r.relates_to_id",
                user_id,
                *chunk,
            )
            if not rows:
                continue
            latest = [int(r[2]) for r in rows]
            id_rows = await conn.fetch(
                "SELECT stream_ordering, event_id FROM events"
                f" WHERE stream_ordering IN ({_placeholders(1, len(latest))})",
                *latest,
            )
            by_stream = {int(r[0]): r[1] for r in id_rows}
            for r in rows:
                latest_id = by_stream.get(int(r[2]))
                if latest_id is not None:
                    out[r[0]] = ThreadSummary(r[0], int(r[1]), latest_id, bool(int(r[3])))
        return out

    async def threads(
        self,
        conn: Connection,
        room_id: str,
        *,
        before: int | None,
        limit: int,
        participant: str | None,
    ) -> list[ThreadActivity]:
        """Thread roots of the room, newest activity first.

        Args:
            before: only threads whose newest reply has a smaller stream ordering.
            participant: only threads this user started or replied in.
        """
        args: list[object] = [room_id]
        sql = (
            "SELECT r.relates_to_id, MAX(r.stream_ordering) AS latest"
            " FROM event_relations r JOIN events e ON e.event_id = r.event_id"
            " JOIN events root ON root.event_id = r.relates_to_id"
            " WHERE r.room_id = $1 AND root.room_id = $1 AND r.rel_type = 'm.thread'"
            " AND e.redacted_by IS NULL"
            " GROUP BY r.relates_to_id, root.sender"
        )
        having: list[str] = []
        if before is not None:
            args.append(before)
            having.append(f"MAX(r.stream_ordering) < ${len(args)}")
        if participant is not None:
            args.append(participant)
            n = len(args)
            having.append(
                f"(root.sender = ${n} OR MAX(CASE WHEN r.sender = ${n} THEN 1 ELSE 0 END) = 1)"
            )
        if having:
            sql += " HAVING " + " AND ".join(having)
        sql += f" ORDER BY latest DESC LIMIT {int(limit)}"
        rows = await conn.fetch(sql, *args)
        return [ThreadActivity(r[0], int(r[1])) for r in rows]

    async def has_annotation(
        self, conn: Connection, parent_id: str, event_type: str, key: str, sender: str
    ) -> bool:
        """Whether ``sender`` already has a live annotation ``key`` of this type on the parent."""
        row = await conn.fetchrow(
            "SELECT 1 FROM event_relations r JOIN events e ON e.event_id = r.event_id"
            " WHERE r.relates_to_id = $1 AND r.rel_type = 'm.annotation' AND r.type = $2"
            " AND r.aggregation_key = $3 AND r.sender = $4 AND e.redacted_by IS NULL LIMIT 1",
            parent_id,
            event_type,
            key,
            sender,
        )
        return row is not None

    async def is_relation_target(self, conn: Connection, event_id: str) -> bool:
        row = await conn.fetchrow(
            "SELECT 1 FROM event_relations WHERE relates_to_id = $1 LIMIT 1", event_id
        )
        return row is not None

    async def relation_of(self, conn: Connection, event_id: str) -> str | None:
        """The ``rel_type`` of the event's own relation, if it has one (and is not redacted)."""
        value = await conn.fetchval(
            "SELECT r.rel_type FROM event_relations r JOIN events e ON e.event_id = r.event_id"
            " WHERE r.event_id = $1 AND e.redacted_by IS NULL",
            event_id,
        )
        return value if isinstance(value, str) else None
