"""Counts over a user's membership events, for the server admin API."""

from __future__ import annotations

import json

from homeserver.storage.db import Connection


class AdminActivityStore:
    async def sent_invites(self, conn: Connection, user_id: str, from_ts: int) -> int:
        """Invites ``user_id`` sent to others since ``from_ts`` (ms, inclusive)."""
        rows = await conn.fetch(
            "SELECT json FROM events WHERE sender = $1 AND type = 'm.room.member' "
            "AND state_key <> $1 AND origin_server_ts >= $2 AND rejected_reason IS NULL",
            user_id,
            from_ts,
        )
        return sum(1 for r in rows if _membership(r["json"]) == "invite")

    async def joined_room_count(self, conn: Connection, user_id: str) -> int:
        """Rooms ``user_id`` has ever joined (left ones included)."""
        rows = await conn.fetch(
            "SELECT room_id, json FROM events WHERE type = 'm.room.member' "
            "AND state_key = $1 AND sender = $1 AND rejected_reason IS NULL",
            user_id,
        )
        return len({r["room_id"] for r in rows if _membership(r["json"]) == "join"})

    async def redactable_events(
        self, conn: Connection, room_id: str, user_id: str, limit: int
    ) -> list[str]:
        """The user's newest unredacted events in the room (not redactions,
        not the create event)."""
        rows = await conn.fetch(
            "SELECT event_id FROM events WHERE room_id = $1 AND sender = $2 "
            "AND redacted_by IS NULL AND type <> 'm.room.redaction' "
            "AND type <> 'm.room.create' ORDER BY stream_ordering DESC LIMIT $3",
            room_id,
            user_id,
            limit,
        )
        return [r["event_id"] for r in rows]


def _membership(raw: str) -> object:
    content = json.loads(raw).get("content")
    return content.get("membership") if isinstance(content, dict) else None
