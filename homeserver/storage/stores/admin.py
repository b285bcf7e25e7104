"""Queries of the server admin API: user listing, account restrictions,
rate limit overrides, blocked rooms, admin tasks, server notices rooms, and
the deletion of a whole room's rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from canonicaljson import encode_canonical_json

from homeserver.storage.db import Connection
from homeserver.storage.stores.auth_changes import note_auth_change
from homeserver.storage.stores.push_changes import note_push_rows_deleted


@dataclass(frozen=True, slots=True)
class UserRow:
    user_id: str
    created_ts: int
    is_admin: bool
    is_guest: bool
    deactivated: bool
    erased: bool
    user_type: str | None
    appservice_id: str | None
    shadow_banned: bool
    locked: bool
    suspended: bool
    displayname: str | None
    avatar_url: str | None


@dataclass(frozen=True, slots=True)
class UserFilter:
    """Filters of the user list; None means "don't filter"."""

    #: substring of the user id (case-insensitive)
    user_id: str | None = None
    #: substring of the user id or the display name (case-insensitive)
    name: str | None = None
    guests: bool | None = None
    deactivated: bool | None = None
    admins: bool | None = None
    locked: bool | None = None


@dataclass(frozen=True, slots=True)
class AdminTask:
    task_id: str
    kind: str
    room_id: str | None
    status: str
    result: dict[str, Any] | None
    error: str | None
    created_ts: int


_USER_COLUMNS = (
    "u.user_id, u.created_ts, u.is_admin, u.is_guest, u.deactivated, u.erased, u.user_type, "
    "u.appservice_id, u.shadow_banned, u.locked, u.suspended, p.displayname, p.avatar_url"
)

#: order_by values of the user list → SQL expression
USER_ORDER = {
    "name": "u.user_id",
    "is_guest": "u.is_guest",
    "admin": "u.is_admin",
    "user_type": "u.user_type",
    "deactivated": "u.deactivated",
    "shadow_banned": "u.shadow_banned",
    "displayname": "p.displayname",
    "avatar_url": "p.avatar_url",
    "creation_ts": "u.created_ts",
    "locked": "u.locked",
}

#: Every table holding rows of one room, with its room column. Deleting a
#: room deletes from each of them (the state group entries go by group).
ROOM_TABLES = (
    "events",
    "state_groups",
    "current_state_events",
    "room_forward_extremities",
    "room_memberships",
    "event_relations",
    "room_aliases",
    "receipts",
    "event_push_actions",
    "event_push_generic",
    "push_room_members",
    "push_read_positions",
    "event_search",
    "event_search_tokens",
    "content_reports",
    "rooms",
)


def _user(row: Any) -> UserRow:
    return UserRow(
        user_id=row["user_id"],
        created_ts=int(row["created_ts"]),
        is_admin=bool(row["is_admin"]),
        is_guest=bool(row["is_guest"]),
        deactivated=bool(row["deactivated"]),
        erased=bool(row["erased"]),
        user_type=row["user_type"],
        appservice_id=row["appservice_id"],
        shadow_banned=bool(row["shadow_banned"]),
        locked=bool(row["locked"]),
        suspended=bool(row["suspended"]),
        displayname=row["displayname"],
        avatar_url=row["avatar_url"],
    )


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AdminStore:
    """Reads and writes the admin tables; every method takes the connection first."""

    # --- users -----------------------------------------------------------------

    async def get_user(self, conn: Connection, user_id: str) -> UserRow | None:
        row = await conn.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM users u LEFT JOIN profiles p "
            "ON p.user_id = u.user_id WHERE u.user_id = $1",
            user_id,
        )
        return None if row is None else _user(row)

    async def list_users(
        self,
        conn: Connection,
        filters: UserFilter,
        *,
        offset: int,
        limit: int,
        order_by: str = "name",
        descending: bool = False,
    ) -> tuple[list[UserRow], int]:
        """One page of users and the number of users matching the filters.

        Args:
            offset: how many matching users to skip (the page starts after them).
            order_by: a key of ``USER_ORDER``; ties are broken by user id.
        """
        where: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if filters.user_id is not None:
            pattern = "%" + _escape_like(filters.user_id.lower()) + "%"
            where.append(f"LOWER(u.user_id) LIKE {arg(pattern)} ESCAPE '\\'")
        if filters.name is not None:
            pattern = "%" + _escape_like(filters.name.lower()) + "%"
            p = arg(pattern)
            where.append(
                f"(LOWER(u.user_id) LIKE {p} ESCAPE '\\' "
                f"OR LOWER(COALESCE(p.displayname, '')) LIKE {p} ESCAPE '\\')"
            )
        for column, wanted in (
            ("u.is_guest", filters.guests),
            ("u.deactivated", filters.deactivated),
            ("u.is_admin", filters.admins),
            ("u.locked", filters.locked),
        ):
            if wanted is not None:
                where.append(f"{column} = {arg(wanted)}")
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        base = "FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id" + clause
        total = int(await conn.fetchval(f"SELECT COUNT(*) {base}", *args))
        direction = "DESC" if descending else "ASC"
        order = USER_ORDER.get(order_by, "u.user_id")
        rows = await conn.fetch(
            f"SELECT {_USER_COLUMNS} {base} ORDER BY {order} {direction}, u.user_id {direction} "
            f"LIMIT {arg(limit)} OFFSET {arg(offset)}",
            *args,
        )
        return [_user(r) for r in rows], total

    async def set_user_flag(self, txn: Connection, user_id: str, flag: str, value: bool) -> None:
        """Sets ``shadow_banned``, ``locked`` or ``suspended`` of an account."""
        if flag not in ("shadow_banned", "locked", "suspended"):
            raise ValueError(f"unknown user flag {flag!r}")
        note_auth_change(txn)
        await txn.execute(f"UPDATE users SET {flag} = $2 WHERE user_id = $1", user_id, value)

    async def reactivate(self, txn: Connection, user_id: str) -> None:
        note_auth_change(txn)
        await txn.execute(
            "UPDATE users SET deactivated = FALSE, erased = FALSE WHERE user_id = $1", user_id
        )

    async def set_user_type(self, txn: Connection, user_id: str, user_type: str | None) -> None:
        await txn.execute("UPDATE users SET user_type = $2 WHERE user_id = $1", user_id, user_type)

    # --- rate limit overrides ----------------------------------------------------

    async def get_ratelimit(self, conn: Connection, user_id: str) -> tuple[int, int] | None:
        row = await conn.fetchrow(
            "SELECT messages_per_second, burst_count FROM ratelimit_overrides WHERE user_id = $1",
            user_id,
        )
        if row is None:
            return None
        return int(row["messages_per_second"]), int(row["burst_count"])

    async def set_ratelimit(
        self, txn: Connection, user_id: str, messages_per_second: int, burst_count: int
    ) -> None:
        await txn.execute(
            "INSERT INTO ratelimit_overrides (user_id, messages_per_second, burst_count) "
            "VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET "
            "messages_per_second = EXCLUDED.messages_per_second, "
            "burst_count = EXCLUDED.burst_count",
            user_id,
            messages_per_second,
            burst_count,
        )

    async def all_ratelimits(self, conn: Connection) -> list[tuple[str, int, int]]:
        """Every override as ``(user_id, messages_per_second, burst_count)``."""
        rows = await conn.fetch(
            "SELECT user_id, messages_per_second, burst_count FROM ratelimit_overrides"
        )
        return [(r["user_id"], int(r["messages_per_second"]), int(r["burst_count"])) for r in rows]

    async def delete_ratelimit(self, txn: Connection, user_id: str) -> None:
        await txn.execute("DELETE FROM ratelimit_overrides WHERE user_id = $1", user_id)

    # --- rooms -------------------------------------------------------------------

    async def all_room_ids(self, conn: Connection) -> list[str]:
        rows = await conn.fetch("SELECT room_id FROM rooms ORDER BY room_id")
        return [r["room_id"] for r in rows]

    async def room_event_count(self, conn: Connection, room_id: str) -> int:
        return int(await conn.fetchval("SELECT COUNT(*) FROM events WHERE room_id = $1", room_id))

    async def get_block(self, conn: Connection, room_id: str) -> str | None:
        """The admin who blocked the room, or None when it is not blocked."""
        value: str | None = await conn.fetchval(
            "SELECT user_id FROM blocked_rooms WHERE room_id = $1", room_id
        )
        return value

    async def set_block(self, txn: Connection, room_id: str, user_id: str | None) -> None:
        """Blocks the room (by ``user_id``) or, with None, unblocks it."""
        if user_id is None:
            await txn.execute("DELETE FROM blocked_rooms WHERE room_id = $1", room_id)
            return
        await txn.execute(
            "INSERT INTO blocked_rooms (room_id, user_id) VALUES ($1, $2) "
            "ON CONFLICT (room_id) DO NOTHING",
            room_id,
            user_id,
        )

    async def purge_room(self, txn: Connection, room_id: str) -> dict[str, int]:
        """Deletes every row of the room; returns the row count per table."""
        counts: dict[str, int] = {}
        await txn.execute(
            "DELETE FROM event_txn_ids WHERE event_id IN "
            "(SELECT event_id FROM events WHERE room_id = $1)",
            room_id,
        )
        counts["state_group_entries"] = await txn.execute(
            "DELETE FROM state_group_entries WHERE state_group IN "
            "(SELECT id FROM state_groups WHERE room_id = $1)",
            room_id,
        )
        note_push_rows_deleted(txn)
        for table in ROOM_TABLES:
            counts[table] = await txn.execute(f"DELETE FROM {table} WHERE room_id = $1", room_id)
        await txn.execute("DELETE FROM server_notice_rooms WHERE room_id = $1", room_id)
        return counts

    async def purge_history_before(
        self, txn: Connection, room_id: str, before_stream: int, *, keep_state: bool = True
    ) -> int:
        """Deletes the room's events before a stream position; state events
        stay (the room's state must remain loadable). Returns how many went.
        """
        sql = "FROM events WHERE room_id = $1 AND stream_ordering < $2"
        if keep_state:
            sql += " AND state_key IS NULL"
        await txn.execute(
            "DELETE FROM event_relations WHERE event_id IN (SELECT event_id " + sql + ")",
            room_id,
            before_stream,
        )
        note_push_rows_deleted(txn)
        for table in ("event_push_actions", "event_push_generic"):
            await txn.execute(
                f"DELETE FROM {table} WHERE event_id IN (SELECT event_id " + sql + ")",
                room_id,
                before_stream,
            )
        await txn.execute(
            "DELETE FROM event_search WHERE event_id IN (SELECT event_id " + sql + ")",
            room_id,
            before_stream,
        )
        await txn.execute(
            "DELETE FROM event_search_tokens WHERE event_id IN (SELECT event_id " + sql + ")",
            room_id,
            before_stream,
        )
        return await txn.execute("DELETE " + sql, room_id, before_stream)

    # --- admin tasks -----------------------------------------------------------

    async def put_task(self, txn: Connection, task: AdminTask) -> None:
        await txn.execute(
            "INSERT INTO admin_tasks (task_id, kind, room_id, status, result, error, created_ts) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (task_id) DO UPDATE SET "
            "status = EXCLUDED.status, result = EXCLUDED.result, error = EXCLUDED.error",
            task.task_id,
            task.kind,
            task.room_id,
            task.status,
            None if task.result is None else encode_canonical_json(task.result).decode(),
            task.error,
            task.created_ts,
        )

    async def get_task(self, conn: Connection, task_id: str) -> AdminTask | None:
        row = await conn.fetchrow(
            "SELECT task_id, kind, room_id, status, result, error, created_ts "
            "FROM admin_tasks WHERE task_id = $1",
            task_id,
        )
        return None if row is None else _task(row)

    async def tasks_for_room(self, conn: Connection, room_id: str, kind: str) -> list[AdminTask]:
        rows = await conn.fetch(
            "SELECT task_id, kind, room_id, status, result, error, created_ts "
            "FROM admin_tasks WHERE room_id = $1 AND kind = $2 ORDER BY created_ts, task_id",
            room_id,
            kind,
        )
        return [_task(r) for r in rows]

    # --- server notices ----------------------------------------------------------

    async def notice_room(self, conn: Connection, user_id: str) -> str | None:
        value: str | None = await conn.fetchval(
            "SELECT room_id FROM server_notice_rooms WHERE user_id = $1", user_id
        )
        return value

    async def is_notice_room(self, conn: Connection, room_id: str) -> bool:
        """Whether the room is (or was) some user's server notices room."""
        found = await conn.fetchval(
            "SELECT 1 FROM server_notice_rooms WHERE room_id = $1 LIMIT 1", room_id
        )
        return found is not None

    async def set_notice_room(self, txn: Connection, user_id: str, room_id: str) -> None:
        await txn.execute(
            "INSERT INTO server_notice_rooms (user_id, room_id) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO UPDATE SET room_id = EXCLUDED.room_id",
            user_id,
            room_id,
        )

    # --- reports -----------------------------------------------------------------

    async def list_reports(
        self,
        conn: Connection,
        *,
        offset: int,
        limit: int,
        descending: bool,
        user_id: str | None,
        room_id: str | None,
        rooms_only: bool,
    ) -> tuple[list[Any], int]:
        """A page of content reports (event reports, or with ``rooms_only``
        the reports of whole rooms) and the number matching."""
        where = ["event_id IS NULL" if rooms_only else "event_id IS NOT NULL"]
        args: list[Any] = []
        if user_id is not None:
            args.append("%" + _escape_like(user_id) + "%")
            where.append(f"user_id LIKE ${len(args)} ESCAPE '\\'")
        if room_id is not None:
            args.append("%" + _escape_like(room_id) + "%")
            where.append(f"room_id LIKE ${len(args)} ESCAPE '\\'")
        base = "FROM content_reports WHERE " + " AND ".join(where)
        total = int(await conn.fetchval(f"SELECT COUNT(*) {base}", *args))
        direction = "DESC" if descending else "ASC"
        args.extend([limit, offset])
        rows = await conn.fetch(
            "SELECT id, room_id, event_id, user_id, reason, score, received_ts "
            f"{base} ORDER BY received_ts {direction}, id {direction} "
            f"LIMIT ${len(args) - 1} OFFSET ${len(args)}",
            *args,
        )
        return list(rows), total

    async def get_report(self, conn: Connection, report_id: int) -> Any:
        return await conn.fetchrow(
            "SELECT id, room_id, event_id, user_id, reason, score, received_ts "
            "FROM content_reports WHERE id = $1",
            report_id,
        )

    async def delete_report(self, txn: Connection, report_id: int) -> bool:
        return await txn.execute("DELETE FROM content_reports WHERE id = $1", report_id) > 0

    # --- registration tokens -------------------------------------------------------

    async def list_registration_tokens(self, conn: Connection) -> list[Any]:
        return list(
            await conn.fetch(
                "SELECT token, uses_allowed, pending, completed, expiry_time "
                "FROM registration_tokens ORDER BY token"
            )
        )

    async def update_registration_token(
        self, txn: Connection, token: str, fields: dict[str, int | None]
    ) -> bool:
        """Sets ``uses_allowed`` and/or ``expiry_time``; False for an unknown token."""
        sets = []
        args: list[Any] = [token]
        for column in ("uses_allowed", "expiry_time"):
            if column in fields:
                args.append(fields[column])
                sets.append(f"{column} = ${len(args)}")
        if not sets:
            return (
                await txn.fetchval("SELECT 1 FROM registration_tokens WHERE token = $1", token)
                is not None
            )
        updated = await txn.fetchval(
            f"UPDATE registration_tokens SET {', '.join(sets)} WHERE token = $1 RETURNING token",
            *args,
        )
        return updated is not None


def _task(row: Any) -> AdminTask:
    result = row["result"]
    return AdminTask(
        task_id=row["task_id"],
        kind=row["kind"],
        room_id=row["room_id"],
        status=row["status"],
        result=None if result is None else json.loads(result),
        error=row["error"],
        created_ts=int(row["created_ts"]),
    )
