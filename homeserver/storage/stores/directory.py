"""The room directory and content reports.

Aliases live in ``room_aliases`` (creating and resolving them is
``RoomStore``'s; this store deletes and moves them); a room is published in
the directory when ``rooms.is_public`` is true. ``content_reports`` keeps the
reports users send about events and rooms. ``events_by_ts`` serves
``/timestamp_to_event``.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.db import Connection


@dataclass(frozen=True, slots=True)
class AliasRow:
    room_alias: str
    room_id: str
    creator: str


@dataclass(frozen=True, slots=True)
class Report:
    id: int
    room_id: str
    event_id: str | None
    user_id: str
    reason: str | None
    score: int | None
    received_ts: int


class DirectoryStore:
    """Aliases beyond create/resolve, directory publication, reports."""

    # --- aliases -----------------------------------------------------------

    async def get_alias_row(self, conn: Connection, room_alias: str) -> AliasRow | None:
        row = await conn.fetchrow(
            "SELECT room_id, creator FROM room_aliases WHERE room_alias = $1", room_alias
        )
        if row is None:
            return None
        return AliasRow(room_alias, row["room_id"], row["creator"])

    async def delete_alias(self, txn: Connection, room_alias: str) -> bool:
        """Removes the alias; False when it did not exist."""
        deleted = await txn.fetchval(
            "DELETE FROM room_aliases WHERE room_alias = $1 RETURNING room_alias", room_alias
        )
        return deleted is not None

    async def move_aliases(self, txn: Connection, old_room_id: str, new_room_id: str) -> None:
        """Points every alias of ``old_room_id`` at ``new_room_id``."""
        await txn.execute(
            "UPDATE room_aliases SET room_id = $2 WHERE room_id = $1", old_room_id, new_room_id
        )

    # --- publication ---------------------------------------------------------

    async def set_public(self, txn: Connection, room_id: str, is_public: bool) -> bool:
        """Publishes or unpublishes a room; False when the room is unknown."""
        updated = await txn.fetchval(
            "UPDATE rooms SET is_public = $2 WHERE room_id = $1 RETURNING room_id",
            room_id,
            is_public,
        )
        return updated is not None

    async def public_room_ids(self, conn: Connection) -> list[str]:
        rows = await conn.fetch(
            "SELECT room_id FROM rooms WHERE is_public = $1 ORDER BY room_id", True
        )
        return [r["room_id"] for r in rows]

    # --- reports -------------------------------------------------------------

    async def insert_report(
        self,
        txn: Connection,
        room_id: str,
        event_id: str | None,
        user_id: str,
        reason: str | None,
        score: int | None,
        received_ts: int,
    ) -> int:
        """Stores a report; returns its id."""
        report_id = await txn.fetchval(
            "INSERT INTO content_reports "
            "(id, room_id, event_id, user_id, reason, score, received_ts) "
            "SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4, $5, $6 FROM content_reports "
            "RETURNING id",
            room_id,
            event_id,
            user_id,
            reason,
            score,
            received_ts,
        )
        return int(report_id)

    async def list_reports(self, conn: Connection, limit: int = 100) -> list[Report]:
        """The newest reports first."""
        rows = await conn.fetch(
            "SELECT id, room_id, event_id, user_id, reason, score, received_ts "
            "FROM content_reports ORDER BY id DESC LIMIT $1",
            limit,
        )
        return [
            Report(
                id=int(r["id"]),
                room_id=r["room_id"],
                event_id=r["event_id"],
                user_id=r["user_id"],
                reason=r["reason"],
                score=int(r["score"]) if r["score"] is not None else None,
                received_ts=int(r["received_ts"]),
            )
            for r in rows
        ]

    # --- events by timestamp ---------------------------------------------------

    async def events_by_ts(
        self,
        conn: Connection,
        room_id: str,
        ts: int,
        *,
        forwards: bool,
        limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[tuple[str, int, int]]:
        """``(event_id, origin_server_ts, stream_ordering)`` of the room's
        accepted, non-outlier events nearest to ``ts`` in one direction.

        Forwards: ``origin_server_ts >= ts``, oldest first; backwards:
        ``<= ts``, newest first. ``after`` is the ``(ts, stream_ordering)``
        of the last row of a previous page.
        """
        op, order = (">", "ASC") if forwards else ("<", "DESC")
        sql = (
            "SELECT event_id, origin_server_ts, stream_ordering FROM events "
            "WHERE room_id = $1 AND outlier = $2 AND rejected_reason IS NULL "
            f"AND origin_server_ts {op}= $3"
        )
        args: list[object] = [room_id, False, ts]
        if after is not None:
            sql += (
                f" AND (origin_server_ts {op} $4 OR "
                f"(origin_server_ts = $4 AND stream_ordering {op} $5))"
            )
            args.extend(after)
        sql += f" ORDER BY origin_server_ts {order}, stream_ordering {order} LIMIT ${len(args) + 1}"
        args.append(limit)
        rows = await conn.fetch(sql, *args)
        return [
            (r["event_id"], int(r["origin_server_ts"]), int(r["stream_ordering"])) for r in rows
        ]
