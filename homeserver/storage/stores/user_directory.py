"""User directory search, mutual rooms and user reports.

The directory has no table of its own: it searches the joined members of
a set of rooms (``current_state_events``) with their global profile
(``profiles``), leaving out deactivated accounts (``users``). Matching is a
case-insensitive substring match (``lower(...) LIKE``) on the user id and
the display name; PostgreSQL folds every script's case, SQLite only ASCII
(scripts without case, such as CJK, match either way). ``user_reports``
keeps the reports users send about other users.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from homeserver.storage.db import Connection, Row

#: Rooms per query (placeholders stay far below SQLite's limit).
_BATCH = 500


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    user_id: str
    display_name: str | None
    avatar_url: str | None


@dataclass(frozen=True, slots=True)
class UserReport:
    id: int
    target_user_id: str
    user_id: str
    reason: str
    received_ts: int


def like_pattern(term: str) -> str:
    """A ``LIKE ... ESCAPE '\\'`` pattern matching ``term`` anywhere, lower-cased."""
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_USER_COLUMNS = "SELECT DISTINCT m.state_key AS user_id, p.displayname, p.avatar_url "
_MATCH = (
    "AND COALESCE(u.deactivated, FALSE) = FALSE "
    "AND (lower(m.state_key) LIKE $1 ESCAPE '\\' OR lower(p.displayname) LIKE $1 ESCAPE '\\') "
)


def _user(row: Row) -> DirectoryUser:
    return DirectoryUser(row["user_id"], row["displayname"], row["avatar_url"])


class UserDirectoryStore:
    async def search_in_rooms(
        self, conn: Connection, pattern: str, room_ids: Sequence[str], limit: int
    ) -> list[DirectoryUser]:
        """Joined members of ``room_ids`` whose id or display name matches
        ``pattern`` (see ``like_pattern``); up to ``limit`` per batch of rooms,
        so callers sort and cut."""
        found: dict[str, DirectoryUser] = {}
        ids = list(dict.fromkeys(room_ids))
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            placeholders = ", ".join(f"${i + 3}" for i in range(len(chunk)))
            rows = await conn.fetch(
                _USER_COLUMNS + "FROM current_state_events m "
                "LEFT JOIN profiles p ON p.user_id = m.state_key "
                "LEFT JOIN users u ON u.user_id = m.state_key "
                "WHERE m.type = 'm.room.member' AND m.membership = 'join' "
                f"AND m.room_id IN ({placeholders}) " + _MATCH + "ORDER BY m.state_key LIMIT $2",
                pattern,
                limit,
                *chunk,
            )
            for row in rows:
                found.setdefault(row["user_id"], _user(row))
        return list(found.values())

    async def search_local_users(
        self, conn: Connection, pattern: str, limit: int
    ) -> list[DirectoryUser]:
        """Every local, active, non-guest user whose id or display name matches."""
        rows = await conn.fetch(
            "SELECT u.user_id, p.displayname, p.avatar_url FROM users u "
            "LEFT JOIN profiles p ON p.user_id = u.user_id "
            "WHERE u.deactivated = FALSE AND u.is_guest = FALSE "
            "AND (lower(u.user_id) LIKE $1 ESCAPE '\\' "
            "OR lower(p.displayname) LIKE $1 ESCAPE '\\') "
            "ORDER BY u.user_id LIMIT $2",
            pattern,
            limit,
        )
        return [_user(r) for r in rows]

    async def joined_rooms(self, conn: Connection, user_id: str) -> list[str]:
        """The rooms the user is joined to, by room id."""
        rows = await conn.fetch(
            "SELECT room_id FROM current_state_events "
            "WHERE type = 'm.room.member' AND state_key = $1 AND membership = 'join' "
            "ORDER BY room_id",
            user_id,
        )
        return [r["room_id"] for r in rows]

    async def mutual_rooms(self, conn: Connection, user_a: str, user_b: str) -> list[str]:
        """Rooms both users are joined to, by room id."""
        rows = await conn.fetch(
            "SELECT a.room_id FROM current_state_events a "
            "JOIN current_state_events b ON b.room_id = a.room_id "
            "AND b.type = 'm.room.member' AND b.state_key = $2 AND b.membership = 'join' "
            "WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join' "
            "ORDER BY a.room_id",
            user_a,
            user_b,
        )
        return [r["room_id"] for r in rows]

    async def public_room_state(self, conn: Connection) -> list[tuple[str, str]]:
        """``(room_id, event json)`` of every room's join rules and history
        visibility (the directory's "public room" test reads them)."""
        rows = await conn.fetch(
            "SELECT c.room_id, e.json FROM current_state_events c "
            "JOIN events e ON e.event_id = c.event_id "
            "WHERE c.type IN ('m.room.join_rules', 'm.room.history_visibility') "
            "AND c.state_key = ''"
        )
        return [(r["room_id"], r["json"]) for r in rows]

    # --- user reports ----------------------------------------------------------

    async def insert_user_report(
        self, txn: Connection, target_user_id: str, user_id: str, reason: str, received_ts: int
    ) -> int:
        """Stores a report of a user; returns its id."""
        report_id = await txn.fetchval(
            "INSERT INTO user_reports (id, target_user_id, user_id, reason, received_ts) "
            "SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4 FROM user_reports RETURNING id",
            target_user_id,
            user_id,
            reason,
            received_ts,
        )
        return int(report_id)

    async def list_user_reports(self, conn: Connection, limit: int = 100) -> list[UserReport]:
        """The newest user reports first."""
        rows = await conn.fetch(
            "SELECT id, target_user_id, user_id, reason, received_ts FROM user_reports "
            "ORDER BY id DESC LIMIT $1",
            limit,
        )
        return [
            UserReport(
                int(r["id"]), r["target_user_id"], r["user_id"], r["reason"], int(r["received_ts"])
            )
            for r in rows
        ]
