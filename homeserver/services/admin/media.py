"""Server admin operations on the local media repository (the
``/_synapse/admin`` media API): info, quarantine, protection, listings and
deletion (rows, files and thumbnails).

Quarantined media is never served (the download path already answers 404);
protected media cannot be quarantined or bulk-deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any

from homeserver.core.errors import InvalidParam, NotFound
from homeserver.services.media import MediaService
from homeserver.storage.db import Database, Row
from homeserver.storage.stores.admin_media import MEDIA_ORDER, AdminMediaStore

JsonDict = dict[str, Any]

_MXC = re.compile(r"mxc://([^/\s\"]+)/([A-Za-z0-9_-]+)")


def media_json(row: Row) -> JsonDict:
    return {
        "media_id": row["media_id"],
        "media_type": row["content_type"],
        "media_length": row["size"],
        "upload_name": row["upload_name"],
        "created_ts": int(row["created_ts"]),
        "last_access_ts": int(row["created_ts"]),
        "quarantined_by": "admin" if row["quarantined"] else None,
        "safe_from_quarantine": bool(row["safe_from_quarantine"]),
        "user_id": row["user_id"],
    }


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class MediaAdmin:
    def __init__(self, db: Database, media: MediaService, server_name: str) -> None:
        self._db = db
        self._media = media
        self._server_name = server_name
        self._store = AdminMediaStore()

    def _local(self, server_name: str) -> None:
        if server_name != self._server_name:
            raise InvalidParam("Only local media can be managed")

    async def info(self, server_name: str, media_id: str) -> JsonDict:
        """The media's metadata (404 M_NOT_FOUND when unknown)."""
        self._local(server_name)
        async with self._db.read() as conn:
            row = await self._store.get(conn, media_id)
        if row is None:
            raise NotFound("Unknown media")
        return {"media_info": media_json(row)}

    async def quarantine(self, media_ids: list[str], value: bool) -> int:
        """Quarantines (or releases) media; protected media is skipped."""
        async with self._db.write() as txn:
            return await self._store.set_quarantined(txn, media_ids, value)

    async def quarantine_one(self, server_name: str, media_id: str, value: bool) -> None:
        if server_name == self._server_name:
            await self.quarantine([media_id], value)

    async def protect(self, media_id: str, value: bool) -> None:
        async with self._db.write() as txn:
            await self._store.set_protected(txn, media_id, value)

    async def room_media(self, room_id: str) -> tuple[list[str], list[str]]:
        """The mxc URLs the room's events mention: (local, remote)."""
        async with self._db.read() as conn:
            contents = await self._store.event_contents(conn, room_id)
        local: set[str] = set()
        remote: set[str] = set()
        for raw in contents:
            for server_name, media_id in _MXC.findall(raw):
                url = f"mxc://{server_name}/{media_id}"
                (local if server_name == self._server_name else remote).add(url)
        return sorted(local), sorted(remote)

    async def quarantine_room(self, room_id: str) -> int:
        local, _ = await self.room_media(room_id)
        return await self.quarantine([url.rsplit("/", 1)[1] for url in local], True)

    async def quarantine_user(self, user_id: str) -> int:
        async with self._db.read() as conn:
            media_ids = await self._store.media_of_user(conn, user_id)
        return await self.quarantine(media_ids, True)

    async def user_media(
        self, user_id: str, *, offset: int, limit: int, order_by: str, descending: bool
    ) -> JsonDict:
        if order_by not in MEDIA_ORDER:
            raise InvalidParam("Unknown value for order_by")
        async with self._db.read() as conn:
            rows, total = await self._store.page_of_user(
                conn, user_id, offset=offset, limit=limit, order_by=order_by, descending=descending
            )
        out: JsonDict = {"media": [media_json(r) for r in rows], "total": total}
        if offset + len(rows) < total:
            out["next_token"] = offset + len(rows)
        return out

    async def delete(self, media_ids: list[str]) -> list[str]:
        """Deletes the rows, the files and the thumbnails; returns the ids deleted."""
        deleted: list[str] = []
        files = self._media.files
        for media_id in media_ids:
            async with self._db.write() as txn:
                if await self._store.get(txn, media_id) is None:
                    continue
                thumbs = await self._store.thumbnail_paths(txn, media_id)
                await self._store.delete(txn, media_id)
            paths = [files.root / t for t in thumbs]
            with contextlib.suppress(ValueError):  # an id that never had a file
                paths.append(files.content_path(media_id))
            await asyncio.to_thread(_unlink, paths)
            deleted.append(media_id)
        return deleted

    async def delete_one(self, server_name: str, media_id: str) -> list[str]:
        self._local(server_name)
        deleted = await self.delete([media_id])
        if not deleted:
            raise NotFound("Unknown media")
        return deleted

    async def delete_user_media(self, user_id: str) -> list[str]:
        async with self._db.read() as conn:
            media_ids = await self._store.media_of_user(conn, user_id)
        return await self.delete(media_ids)

    async def delete_older(self, before_ts: int, size_gt: int, keep_profiles: bool) -> list[str]:
        """Deletes unprotected media created before ``before_ts`` and larger
        than ``size_gt`` bytes; with ``keep_profiles`` avatars are kept."""
        async with self._db.read() as conn:
            rows = await self._store.older_than(conn, before_ts, size_gt)
            avatars = await self._store.profile_media(conn) if keep_profiles else set()
        media_ids = [
            r["media_id"]
            for r in rows
            if f"mxc://{self._server_name}/{r['media_id']}" not in avatars
        ]
        return await self.delete(media_ids)

    async def statistics(
        self, *, offset: int, limit: int, order_by: str, descending: bool
    ) -> JsonDict:
        if order_by not in ("user_id", "displayname", "media_length", "media_count"):
            raise InvalidParam("Unknown value for order_by")
        async with self._db.read() as conn:
            rows, total = await self._store.statistics(
                conn, offset=offset, limit=limit, order_by=order_by, descending=descending
            )
        users = [
            {
                "user_id": r["user_id"],
                "displayname": r["displayname"],
                "media_count": int(r["media_count"]),
                "media_length": int(r["media_length"]),
            }
            for r in rows
        ]
        out: JsonDict = {"users": users, "total": total}
        if offset + len(rows) < total:
            out["next_token"] = offset + len(rows)
        return out


__all__ = ["MediaAdmin", "media_json"]
