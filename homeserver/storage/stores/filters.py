"""The ``user_filters`` table: filters uploaded with ``POST /user/{userId}/filter``."""

from __future__ import annotations

import json
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.storage.db import Connection


class FilterStore:
    """Stores filter definitions per user. Every method takes the connection first."""

    async def add(self, txn: Connection, user_id: str, definition: dict[str, Any]) -> int:
        """Stores a filter and returns its id (per user, increasing from 0).

        Args:
            txn: a write transaction (the id is allocated in it).
        """
        last = await txn.fetchval(
            "SELECT MAX(filter_id) FROM user_filters WHERE user_id = $1", user_id
        )
        filter_id = 0 if last is None else int(last) + 1
        await txn.execute(
            "INSERT INTO user_filters (user_id, filter_id, filter_json) VALUES ($1, $2, $3)",
            user_id,
            filter_id,
            encode_canonical_json(definition).decode("utf-8"),
        )
        return filter_id

    async def get(self, conn: Connection, user_id: str, filter_id: int) -> dict[str, Any] | None:
        """The filter definition, or None when the user has no such filter."""
        raw = await conn.fetchval(
            "SELECT filter_json FROM user_filters WHERE user_id = $1 AND filter_id = $2",
            user_id,
            filter_id,
        )
        if raw is None:
            return None
        definition: dict[str, Any] = json.loads(raw)
        return definition
