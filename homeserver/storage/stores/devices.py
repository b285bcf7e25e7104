"""The ``devices`` table: a user's logged-in devices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from homeserver.storage.db import Connection, Row


@dataclass(frozen=True, slots=True)
class Device:
    user_id: str
    device_id: str
    display_name: str | None
    created_ts: int
    last_seen_ts: int | None
    last_seen_ip: str | None
    user_agent: str | None


_COLUMNS = "user_id, device_id, display_name, created_ts, last_seen_ts, last_seen_ip, user_agent"


def _device(row: Row) -> Device:
    last_seen = row["last_seen_ts"]
    return Device(
        user_id=row["user_id"],
        device_id=row["device_id"],
        display_name=row["display_name"],
        created_ts=int(row["created_ts"]),
        last_seen_ts=None if last_seen is None else int(last_seen),
        last_seen_ip=row["last_seen_ip"],
        user_agent=row["user_agent"],
    )


class DeviceStore:
    """Reads and writes ``devices``."""

    async def upsert(
        self,
        txn: Connection,
        user_id: str,
        device_id: str,
        *,
        display_name: str | None,
        now_ms: int,
    ) -> bool:
        """Creates the device, or marks an existing one as seen now.

        An existing device keeps its display name unless ``display_name`` is given.

        Returns:
            True if the device was created, False if it existed.
        """
        created = await txn.fetchval(
            f"INSERT INTO devices ({_COLUMNS}) VALUES ($1, $2, $3, $4, $4, NULL, NULL) "
            "ON CONFLICT (user_id, device_id) DO NOTHING RETURNING device_id",
            user_id,
            device_id,
            display_name,
            now_ms,
        )
        if created is not None:
            return True
        await txn.execute(
            "UPDATE devices SET last_seen_ts = $3, display_name = COALESCE($4, display_name) "
            "WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
            now_ms,
            display_name,
        )
        return False

    async def get(self, conn: Connection, user_id: str, device_id: str) -> Device | None:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM devices WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
        )
        return None if row is None else _device(row)

    async def list_for_user(self, conn: Connection, user_id: str) -> list[Device]:
        """The user's devices, ordered by device id."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY device_id", user_id
        )
        return [_device(r) for r in rows]

    async def set_display_name(
        self, txn: Connection, user_id: str, device_id: str, display_name: str | None
    ) -> bool:
        """Returns False when the device does not exist."""
        found = await txn.fetchval(
            "UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2 "
            "RETURNING device_id",
            user_id,
            device_id,
            display_name,
        )
        return found is not None

    async def touch(
        self,
        txn: Connection,
        user_id: str,
        device_id: str,
        *,
        now_ms: int,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Records that the device was just used."""
        await txn.execute(
            "UPDATE devices SET last_seen_ts = $3, last_seen_ip = COALESCE($4, last_seen_ip), "
            "user_agent = COALESCE($5, user_agent) WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
            now_ms,
            ip,
            user_agent,
        )

    async def delete(self, txn: Connection, user_id: str, device_ids: Sequence[str]) -> list[str]:
        """Deletes the given devices.

        Returns:
            The ids of the devices that existed and were deleted.
        """
        deleted: list[str] = []
        for device_id in device_ids:
            found = await txn.fetchval(
                "DELETE FROM devices WHERE user_id = $1 AND device_id = $2 RETURNING device_id",
                user_id,
                device_id,
            )
            if found is not None:
                deleted.append(found)
        return deleted

    async def delete_all_except(
        self, txn: Connection, user_id: str, keep_device_id: str | None
    ) -> list[str]:
        """Deletes every device of the user but ``keep_device_id``.

        Returns:
            The ids of the deleted devices.
        """
        rows = await txn.fetch(
            "DELETE FROM devices WHERE user_id = $1 AND device_id <> $2 RETURNING device_id",
            user_id,
            keep_device_id if keep_device_id is not None else "",
        )
        return [r["device_id"] for r in rows]
