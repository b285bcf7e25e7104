"""What the server admin API reads and changes in ``local_media``:
quarantine, protection, listings per user and per room, and deletion rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from homeserver.storage.db import Connection, Row

#: ``order_by`` values of the per-user media list, and their columns.
MEDIA_ORDER = {
    "media_id": "media_id",
    "upload_name": "upload_name",
    "created_ts": "created_ts",
    "last_access_ts": "created_ts",
    "media_length": "size",
    "media_type": "content_type",
    "quarantined_by": "quarantined",
    "safe_from_quarantine": "safe_from_quarantine",
}

_COLUMNS = (
    "media_id, user_id, content_type, upload_name, size, created_ts, quarantined, "
    "safe_from_quarantine"
)


class AdminMediaStore:
    async def get(self, conn: Connection, media_id: str) -> Row | None:
        return await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM local_media WHERE media_id = $1", media_id
        )

    async def set_quarantined(self, txn: Connection, media_ids: Sequence[str], value: bool) -> int:
        """Quarantines (or releases) the media not protected from it; returns
        how many rows changed."""
        changed = 0
        for media_id in media_ids:
            done = await txn.fetchval(
                "UPDATE local_media SET quarantined = $2 WHERE media_id = $1 "
                "AND (safe_from_quarantine = FALSE OR $2 = FALSE) RETURNING media_id",
                media_id,
                value,
            )
            changed += done is not None
        return changed

    async def set_protected(self, txn: Connection, media_id: str, value: bool) -> None:
        await txn.execute(
            "UPDATE local_media SET safe_from_quarantine = $2 WHERE media_id = $1",
            media_id,
            value,
        )

    async def media_of_user(self, conn: Connection, user_id: str) -> list[str]:
        rows = await conn.fetch("SELECT media_id FROM local_media WHERE user_id = $1", user_id)
        return [r["media_id"] for r in rows]

    async def page_of_user(
        self,
        conn: Connection,
        user_id: str,
        *,
        offset: int,
        limit: int,
        order_by: str,
        descending: bool,
    ) -> tuple[list[Row], int]:
        """One page of the user's uploads and their total count."""
        column = MEDIA_ORDER[order_by]
        direction = "DESC" if descending else "ASC"
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM local_media WHERE user_id = $1 "
            f"ORDER BY {column} {direction}, media_id {direction} LIMIT $2 OFFSET $3",
            user_id,
            limit,
            offset,
        )
        total = await conn.fetchval("SELECT COUNT(*) FROM local_media WHERE user_id = $1", user_id)
        return list(rows), int(total)

    async def event_contents(self, conn: Connection, room_id: str) -> list[str]:
        """The JSON of every event of the room (to find the mxc URLs in it)."""
        rows = await conn.fetch("SELECT json FROM events WHERE room_id = $1", room_id)
        return [r["json"] for r in rows]

    async def profile_media(self, conn: Connection) -> set[str]:
        """Avatar URLs in use by local profiles."""
        rows = await conn.fetch("SELECT avatar_url FROM profiles WHERE avatar_url IS NOT NULL")
        return {r["avatar_url"] for r in rows}

    async def older_than(self, conn: Connection, before_ts: int, size_gt: int) -> list[Row]:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM local_media WHERE created_ts < $1 AND "
            "COALESCE(size, 0) > $2 AND safe_from_quarantine = FALSE",
            before_ts,
            size_gt,
        )
        return list(rows)

    async def thumbnail_paths(self, conn: Connection, media_id: str) -> list[str]:
        rows = await conn.fetch(
            "SELECT path FROM local_media_thumbnails WHERE media_id = $1", media_id
        )
        return [r["path"] for r in rows]

    async def delete(self, txn: Connection, media_id: str) -> None:
        await txn.execute("DELETE FROM local_media_thumbnails WHERE media_id = $1", media_id)
        await txn.execute("DELETE FROM local_media WHERE media_id = $1", media_id)

    async def statistics(
        self, conn: Connection, *, offset: int, limit: int, order_by: str, descending: bool
    ) -> tuple[list[Row], int]:
        """Per-user media count and total size, one page, and the user count."""
        column = {
            "user_id": "m.user_id",
            "displayname": "p.displayname",
            "media_count": "media_count",
        }.get(order_by, "media_length")
        direction = "DESC" if descending else "ASC"
        rows = await conn.fetch(
            "SELECT m.user_id, p.displayname, COUNT(*) AS media_count, "
            "COALESCE(SUM(m.size), 0) AS media_length FROM local_media m "
            "LEFT JOIN profiles p ON p.user_id = m.user_id GROUP BY m.user_id, p.displayname "
            f"ORDER BY {column} {direction}, m.user_id LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
        total = await conn.fetchval("SELECT COUNT(DISTINCT user_id) FROM local_media")
        return list(rows), int(total)
