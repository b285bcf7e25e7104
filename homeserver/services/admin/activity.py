"""What a local user has done, counted for the server admin API."""

from __future__ import annotations

from homeserver.storage.db import Database
from homeserver.storage.stores.admin_activity import AdminActivityStore


class UserActivity:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._store = AdminActivityStore()

    async def sent_invite_count(self, user_id: str, from_ts: int) -> int:
        async with self._db.read() as conn:
            return await self._store.sent_invites(conn, user_id, from_ts)

    async def cumulative_joined_room_count(self, user_id: str) -> int:
        async with self._db.read() as conn:
            return await self._store.joined_room_count(conn, user_id)
