"""Message retention: finding expired events and deleting them for good.

A purge deletes an event's row and every row that exists only because of
it: its relation, push actions, search index entries and the transaction
id that made it. Receipts that point at a purged event stay (they record a
read position, not the event). Media rows go too once no remaining event
mentions them; the caller deletes their files after the commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from homeserver.storage.db import Connection
from homeserver.storage.stores.push_changes import note_push_rows_deleted

#: Tables holding one row per event (keyed by ``event_id``), purged with it.
_PER_EVENT_TABLES = (
    "event_relations",
    "event_push_actions",
    "event_push_generic",
    "event_search",
    "event_search_tokens",
    "event_txn_ids",
)


class RetentionStore:
    """Reads retention policies; purges expired events."""

    async def policies(self, conn: Connection) -> dict[str, dict[str, object]]:
        """The content of every room's current ``m.room.retention`` state event."""
        rows = await conn.fetch(
            "SELECT c.room_id, e.json FROM current_state_events c "
            "JOIN events e ON e.event_id = c.event_id "
            "WHERE c.type = 'm.room.retention' AND c.state_key = '' AND e.redacted_by IS NULL"
        )
        out: dict[str, dict[str, object]] = {}
        for row in rows:
            try:
                content = json.loads(row["json"]).get("content")
            except (ValueError, AttributeError):
                continue
            if isinstance(content, dict):
                out[str(row["room_id"])] = content
        return out

    async def room_ids(self, conn: Connection) -> list[str]:
        return [str(r[0]) for r in await conn.fetch("SELECT room_id FROM rooms")]

    async def expired_events(
        self, conn: Connection, room_id: str, before_ts: int, limit: int
    ) -> list[tuple[str, str]]:
        """Up to ``limit`` purgeable events sent before ``before_ts``.

        Never state events, never the room's newest event, never a forward
        extremity (new events must still find their ``prev_events``).

        Returns:
            ``(event_id, json)`` pairs, oldest first.
        """
        rows = await conn.fetch(
            "SELECT event_id, json FROM events e "
            "WHERE room_id = $1 AND origin_server_ts < $2 AND state_key IS NULL "
            "AND stream_ordering < (SELECT MAX(stream_ordering) FROM events WHERE room_id = $1) "
            "AND NOT EXISTS (SELECT 1 FROM room_forward_extremities f "
            "WHERE f.room_id = $1 AND f.event_id = e.event_id) "
            "ORDER BY stream_ordering LIMIT $3",
            room_id,
            before_ts,
            limit,
        )
        return [(str(r["event_id"]), str(r["json"])) for r in rows]

    async def purge_events(self, txn: Connection, event_ids: Sequence[str]) -> int:
        """Deletes the events and their per-event rows; returns how many events went."""
        args = [(e,) for e in event_ids]
        note_push_rows_deleted(txn)
        for table in _PER_EVENT_TABLES:
            await txn.executemany(f"DELETE FROM {table} WHERE event_id = $1", args)
        count = 0
        for event_id in event_ids:
            count += max(0, await txn.execute("DELETE FROM events WHERE event_id = $1", event_id))
        return count

    async def media_still_referenced(self, conn: Connection, mxc: str) -> bool:
        """Whether any stored event's JSON mentions ``mxc`` (a full ``mxc://`` URI)."""
        # A substring scan: purges are rare background work, and media ids are
        # 24 random letters, so a mention is a real reference.
        pattern = "%" + mxc.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found = await conn.fetchval(
            "SELECT 1 FROM events WHERE json LIKE $1 ESCAPE '\\' LIMIT 1", pattern
        )
        return found is not None

    async def delete_media(self, txn: Connection, media_id: str) -> list[str]:
        """Deletes a media row and its thumbnail rows.

        Returns:
            The thumbnails' paths relative to the media store.
        """
        rows = await txn.fetch(
            "DELETE FROM local_media_thumbnails WHERE media_id = $1 RETURNING path", media_id
        )
        await txn.execute("DELETE FROM local_media WHERE media_id = $1", media_id)
        return [str(r[0]) for r in rows]
