"""The framework's persistent state over ``homeserver.storage.db``.

The bridge's database is its own (never the homeserver's): the schema lives in
``appservices/framework/schema/`` and is applied with the same migration runner.
"""

from __future__ import annotations

import time
from pathlib import Path

from homeserver.storage.db import Database
from homeserver.storage.db.migrate import migrate
from homeserver.storage.db.open import open_database

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"


class StateStore:
    """Handled deliveries, registered users, memberships and room flags."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    async def open(cls, url: str) -> StateStore:
        """Opens (and migrates) the database at ``url``."""
        db = await open_database(url, readers=2, max_connections=4)
        try:
            await migrate(db, deltas_dir=SCHEMA_DIR)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self.db.close()

    async def is_handled(self, kind: str, delivery_id: str) -> bool:
        """Whether a delivery (``kind`` "txn", "webhook", ...) was already handled."""
        async with self.db.read() as conn:
            row = await conn.fetchval(
                "SELECT 1 FROM as_handled_deliveries WHERE kind = $1 AND delivery_id = $2",
                kind,
                delivery_id,
            )
        return row is not None

    async def mark_handled(self, kind: str, delivery_id: str) -> None:
        sql = (
            "INSERT INTO as_handled_deliveries (kind, delivery_id, handled_ts) "
            "VALUES ($1, $2, $3) ON CONFLICT (kind, delivery_id) DO NOTHING"
        )
        async with self.db.write() as conn:
            await conn.execute(sql, kind, delivery_id, int(time.time() * 1000))

    async def is_registered(self, user_id: str) -> bool:
        async with self.db.read() as conn:
            row = await conn.fetchval(
                "SELECT 1 FROM as_registered_users WHERE user_id = $1", user_id
            )
        return row is not None

    async def mark_registered(self, user_id: str) -> None:
        sql = self.db.dialect.upsert("as_registered_users", ["user_id"], [])
        async with self.db.write() as conn:
            await conn.execute(sql, user_id)

    async def membership(self, room_id: str, user_id: str) -> str | None:
        """The membership we last recorded (``join``, ``invite``, ``leave``...), or None."""
        async with self.db.read() as conn:
            value = await conn.fetchval(
                "SELECT membership FROM as_room_members WHERE room_id = $1 AND user_id = $2",
                room_id,
                user_id,
            )
        return None if value is None else str(value)

    async def set_membership(self, room_id: str, user_id: str, membership: str) -> None:
        sql = self.db.dialect.upsert("as_room_members", ["room_id", "user_id"], ["membership"])
        async with self.db.write() as conn:
            await conn.execute(sql, room_id, user_id, membership)

    async def room_flag(self, room_id: str, name: str) -> str | None:
        async with self.db.read() as conn:
            value = await conn.fetchval(
                "SELECT value FROM as_room_flags WHERE room_id = $1 AND name = $2", room_id, name
            )
        return None if value is None else str(value)

    async def set_room_flag(self, room_id: str, name: str, value: str) -> None:
        sql = self.db.dialect.upsert("as_room_flags", ["room_id", "name"], ["value"])
        async with self.db.write() as conn:
            await conn.execute(sql, room_id, name, value)
