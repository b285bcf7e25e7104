"""The dehydrated device of each user (``dehydrated_devices``, MSC3814).

A user has at most one. The device is an ordinary ``devices`` row; this
table records which one it is and the client's opaque ``device_data``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.storage.db import Connection


@dataclass(frozen=True, slots=True)
class DehydratedDevice:
    device_id: str
    device_data: dict[str, Any]


class DehydratedDeviceStore:
    """Reads and writes ``dehydrated_devices``. Every method takes the connection first."""

    async def get(self, conn: Connection, user_id: str) -> DehydratedDevice | None:
        row = await conn.fetchrow(
            "SELECT device_id, device_data FROM dehydrated_devices WHERE user_id = $1", user_id
        )
        if row is None:
            return None
        return DehydratedDevice(str(row["device_id"]), json.loads(row["device_data"]))

    async def set(
        self, txn: Connection, user_id: str, device_id: str, device_data: dict[str, Any]
    ) -> None:
        """Records the user's dehydrated device, replacing any previous row."""
        await txn.execute("DELETE FROM dehydrated_devices WHERE user_id = $1", user_id)
        await txn.execute(
            "INSERT INTO dehydrated_devices (user_id, device_id, device_data) VALUES ($1, $2, $3)",
            user_id,
            device_id,
            encode_canonical_json(device_data).decode("utf-8"),
        )

    async def delete_if(self, txn: Connection, user_id: str, device_id: str) -> bool:
        """Forgets the user's dehydrated device if it is ``device_id``."""
        deleted = await txn.execute(
            "DELETE FROM dehydrated_devices WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
        )
        return deleted > 0
