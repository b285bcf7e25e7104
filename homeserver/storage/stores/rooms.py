"""The ``rooms``, ``room_aliases`` and ``event_txn_ids`` tables.

``event_txn_ids`` makes ``PUT …/{txnId}`` idempotent: one row per (user,
device, request path), written in the same transaction as the event it
produced.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.db import Connection


@dataclass(frozen=True, slots=True)
class RoomRow:
    room_id: str
    room_version: str
    creator: str | None
    created_ts: int
    is_public: bool


class RoomStore:
    """Rooms, local aliases and client transaction ids."""

    async def insert_room(
        self,
        txn: Connection,
        room_id: str,
        room_version: str,
        creator: str | None,
        created_ts: int,
        *,
        is_public: bool = False,
    ) -> None:
        await txn.execute(
            "INSERT INTO rooms (room_id, room_version, creator, created_ts, is_public) "
            "VALUES ($1, $2, $3, $4, $5)",
            room_id,
            room_version,
            creator,
            created_ts,
            is_public,
        )

    async def get_room(self, conn: Connection, room_id: str) -> RoomRow | None:
        """The room's row, or None when this server has never known the room."""
        row = await conn.fetchrow(
            "SELECT room_version, creator, created_ts, is_public FROM rooms WHERE room_id = $1",
            room_id,
        )
        if row is None:
            return None
        return RoomRow(
            room_id=room_id,
            room_version=row["room_version"],
            creator=row["creator"],
            created_ts=int(row["created_ts"]),
            is_public=bool(row["is_public"]),
        )

    # --- aliases -----------------------------------------------------------

    async def create_alias(
        self, txn: Connection, room_alias: str, room_id: str, creator: str, created_ts: int
    ) -> bool:
        """Maps ``room_alias`` to ``room_id``; False when the alias is taken."""
        inserted = await txn.fetchval(
            "INSERT INTO room_aliases (room_alias, room_id, creator, created_ts) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (room_alias) DO NOTHING RETURNING room_alias",
            room_alias,
            room_id,
            creator,
            created_ts,
        )
        return inserted is not None

    async def get_alias(self, conn: Connection, room_alias: str) -> str | None:
        """The room id ``room_alias`` maps to, or None."""
        room_id = await conn.fetchval(
            "SELECT room_id FROM room_aliases WHERE room_alias = $1", room_alias
        )
        return str(room_id) if room_id is not None else None

    async def aliases_of_room(self, conn: Connection, room_id: str) -> list[str]:
        rows = await conn.fetch(
            "SELECT room_alias FROM room_aliases WHERE room_id = $1 ORDER BY room_alias", room_id
        )
        return [r["room_alias"] for r in rows]

    # --- client transaction ids -------------------------------------------

    async def get_txn_event(
        self, conn: Connection, user_id: str, device_id: str, txn_path: str
    ) -> str | None:
        """The event id an earlier request with this txn key produced, if any."""
        event_id = await conn.fetchval(
            "SELECT event_id FROM event_txn_ids "
            "WHERE user_id = $1 AND device_id = $2 AND txn_path = $3",
            user_id,
            device_id,
            txn_path,
        )
        return str(event_id) if event_id is not None else None

    async def record_txn(
        self,
        txn: Connection,
        user_id: str,
        device_id: str,
        txn_path: str,
        event_id: str,
        created_ts: int,
    ) -> None:
        """Records the txn key; a duplicate key fails the whole transaction.

        The primary key is the last line of defence against two concurrent
        retries both creating an event (the per-room lock is the first).
        """
        await txn.execute(
            "INSERT INTO event_txn_ids (user_id, device_id, txn_path, event_id, created_ts) "
            "VALUES ($1, $2, $3, $4, $5)",
            user_id,
            device_id,
            txn_path,
            event_id,
            created_ts,
        )
