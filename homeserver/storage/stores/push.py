"""Push tables: ``push_rules``, ``push_rule_defaults``, ``event_push_actions``,
``event_push_generic``, ``push_room_members``, ``push_read_positions`` and
``pushers`` (schema deltas 0005 and 0017).

Notifications. An event that notifies a member is stored in one of two ways:

- ``event_push_generic``: one row per event, the answer of the server-default
  rules for a member the event does not single out. It applies to every
  member in ``push_room_members`` whose membership began before the event,
  other than the sender and the members with a row of their own.
- ``event_push_actions``: one row per (member, event) for members with rules
  of their own or named by the event; ``notif`` false there cancels the
  generic row for that member.

So a send into a room of 10,000 members with default rules writes one row,
not 10,000.

Read positions. A user has read a room (or one thread of it) up to the
greatest stream ordering among:

- their ``m.read`` and ``m.read.private`` receipts (table ``receipts``, owned
  by the receipts store; read here only, joined to ``events`` for the
  position of the receipt's event);
- ``push_read_positions``, which the push service advances when the user
  sends an event (an implicit read receipt).

A receipt with thread ``''`` (unthreaded) covers every thread; a threaded
receipt (``main`` or a thread root id) covers its thread only. A
notification is unread when its stream ordering is above the position
that covers its thread.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.core.push.rules import PushRule
from homeserver.core.push.ruleset import DefaultRuleChange
from homeserver.storage.db import Connection, Dialect
from homeserver.storage.stores.push_changes import note_read_change

#: thread_id of the main timeline (spec: threaded read receipts).
MAIN_THREAD = "main"
#: thread_id of a read position that covers the whole room.
WHOLE_ROOM = ""

_BATCH = 500

# The position covering a notification's thread: the greatest receipt or
# own read position, unthreaded or of the same thread (-1: never read).
_RECEIPT_POSITION = (
    "COALESCE((SELECT MAX(e.stream_ordering) FROM receipts r "
    "JOIN events e ON e.event_id = r.event_id "
    "WHERE r.room_id = {room} AND r.user_id = {user} "
    "AND r.receipt_type IN ('m.read', 'm.read.private') "
    "AND r.thread_id IN ('', {thread})), -1)"
)
_OWN_POSITION = (
    "COALESCE((SELECT MAX(p.stream_ordering) FROM push_read_positions p "
    "WHERE p.user_id = {user} AND p.room_id = {room} "
    "AND p.thread_id IN ('', {thread})), -1)"
)
# Generic rows that apply to user $1: in a room they joined before the
# row's event, not sent by them, and not overridden by a row of their own.
_GENERIC_FOR_USER = (
    "FROM push_room_members m JOIN event_push_generic g "
    "ON g.room_id = m.room_id AND g.stream_ordering > m.since "
    "WHERE m.user_id = $1 AND g.sender <> $1 AND NOT EXISTS ("
    "SELECT 1 FROM event_push_actions x WHERE x.user_id = $1 AND x.event_id = g.event_id)"
)


def _json(value: Any) -> str:
    return encode_canonical_json(value).decode("utf-8")


@dataclass(frozen=True, slots=True)
class UserRules:
    """What is stored for one user's push rules."""

    #: per kind, in priority order (most important first)
    rules: list[PushRule] = field(default_factory=list)
    defaults: dict[str, DefaultRuleChange] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PushActionRow:
    """The push rules' answer for one member (``event_push_actions``)."""

    user_id: str
    room_id: str
    event_id: str
    stream_ordering: int
    thread_id: str
    highlight: bool
    actions: tuple[Any, ...]
    ts: int
    #: False: the event does not notify this member, whatever the generic row says
    notif: bool = True


@dataclass(frozen=True, slots=True)
class GenericPushRow:
    """The default rules' answer for members not singled out (``event_push_generic``)."""

    room_id: str
    event_id: str
    stream_ordering: int
    thread_id: str
    sender: str
    highlight: bool
    actions: tuple[Any, ...]
    ts: int


@dataclass(frozen=True, slots=True)
class NotificationRow:
    room_id: str
    event_id: str
    stream_ordering: int
    actions: list[Any]
    ts: int
    read: bool


@dataclass(frozen=True, slots=True)
class Pusher:
    id: int
    user_id: str
    kind: str
    app_id: str
    pushkey: str
    pushkey_ts: int
    app_display_name: str
    device_display_name: str
    lang: str
    data: dict[str, Any]
    profile_tag: str | None = None
    access_token_id: int | None = None
    device_id: str | None = None
    failing_since: int | None = None
    last_stream_ordering: int | None = None


_PUSHER_COLUMNS = (
    "id, user_id, kind, app_id, pushkey, pushkey_ts, app_display_name, device_display_name, "
    "lang, data, profile_tag, access_token_id, device_id, failing_since, last_stream_ordering"
)


def _pusher(row: Any) -> Pusher:
    return Pusher(
        id=int(row["id"]),
        user_id=row["user_id"],
        kind=row["kind"],
        app_id=row["app_id"],
        pushkey=row["pushkey"],
        pushkey_ts=int(row["pushkey_ts"]),
        app_display_name=row["app_display_name"],
        device_display_name=row["device_display_name"],
        lang=row["lang"],
        data=json.loads(row["data"]),
        profile_tag=row["profile_tag"],
        access_token_id=row["access_token_id"],
        device_id=row["device_id"],
        failing_since=row["failing_since"],
        last_stream_ordering=row["last_stream_ordering"],
    )


def _placeholders(count: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + count))


class PushStore:
    """Reads and writes the push tables. Every method takes the connection first."""

    def __init__(self, dialect: Dialect) -> None:
        covering = dialect.greatest(_RECEIPT_POSITION, _OWN_POSITION)
        #: the read position covering a row of event_push_actions ``a``
        self._covering = covering.format(user="a.user_id", room="a.room_id", thread="a.thread_id")
        #: the read position of user $1 covering a generic row ``g``
        self._covering_generic = covering.format(user="$1", room="g.room_id", thread="g.thread_id")

    # --- rules ----------------------------------------------------------------

    async def get_rules(self, conn: Connection, user_ids: Sequence[str]) -> dict[str, UserRules]:
        """The stored rules of several users (users with none get an empty entry)."""
        out = {user_id: UserRules() for user_id in user_ids}
        for start in range(0, len(user_ids), _BATCH):
            chunk = list(user_ids[start : start + _BATCH])
            marks = _placeholders(len(chunk))
            rows = await conn.fetch(
                "SELECT user_id, kind, rule_id, conditions, pattern, actions, enabled "
                f"FROM push_rules WHERE user_id IN ({marks}) ORDER BY user_id, kind, priority",
                *chunk,
            )
            for r in rows:
                conditions = json.loads(r["conditions"]) if r["conditions"] is not None else None
                out[r["user_id"]].rules.append(
                    PushRule(
                        kind=r["kind"],
                        rule_id=r["rule_id"],
                        actions=tuple(json.loads(r["actions"])),
                        enabled=bool(r["enabled"]),
                        conditions=tuple(conditions) if conditions is not None else None,
                        pattern=r["pattern"],
                    )
                )
            rows = await conn.fetch(
                "SELECT user_id, rule_id, enabled, actions FROM push_rule_defaults "
                f"WHERE user_id IN ({marks})",
                *chunk,
            )
            for r in rows:
                actions = tuple(json.loads(r["actions"])) if r["actions"] is not None else None
                enabled = bool(r["enabled"]) if r["enabled"] is not None else None
                out[r["user_id"]].defaults[r["rule_id"]] = DefaultRuleChange(enabled, actions)
        return out

    async def users_with_own_rules(self, conn: Connection) -> set[str]:
        """Users with stored rules or changes to the server-default rules."""
        rows = await conn.fetch(
            "SELECT user_id FROM push_rules UNION SELECT user_id FROM push_rule_defaults"
        )
        return {r["user_id"] for r in rows}

    async def replace_kind(
        self, txn: Connection, user_id: str, kind: str, rules: Sequence[PushRule]
    ) -> None:
        """Replaces the user's rules of ``kind`` with ``rules`` (priority order)."""
        await txn.execute("DELETE FROM push_rules WHERE user_id = $1 AND kind = $2", user_id, kind)
        if not rules:
            return
        await txn.executemany(
            "INSERT INTO push_rules (user_id, kind, rule_id, priority, conditions, pattern, "
            "actions, enabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (
                    user_id,
                    kind,
                    rule.rule_id,
                    priority,
                    _json(list(rule.conditions)) if rule.conditions is not None else None,
                    rule.pattern,
                    _json(list(rule.actions)),
                    rule.enabled,
                )
                for priority, rule in enumerate(rules)
            ],
        )

    async def set_default_change(
        self, txn: Connection, user_id: str, rule_id: str, change: DefaultRuleChange
    ) -> None:
        """Stores the user's change to a server-default rule (replacing the old one)."""
        actions = _json(list(change.actions)) if change.actions is not None else None
        await txn.execute(
            "INSERT INTO push_rule_defaults (user_id, rule_id, enabled, actions) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, rule_id) DO UPDATE SET "
            "enabled = EXCLUDED.enabled, actions = EXCLUDED.actions",
            user_id,
            rule_id,
            change.enabled,
            actions,
        )

    # --- notifications ----------------------------------------------------------

    async def insert_actions(self, txn: Connection, rows: Sequence[PushActionRow]) -> None:
        """Stores notification rows (a retry of the same event is ignored)."""
        if not rows:
            return
        # Most rows of one event share their actions: encode each distinct one once.
        encoded: dict[int, str] = {}

        def actions_json(actions: tuple[Any, ...]) -> str:
            text = encoded.get(id(actions))
            if text is None:
                text = encoded[id(actions)] = _json(list(actions))
            return text

        await txn.executemany(
            "INSERT INTO event_push_actions (user_id, room_id, event_id, stream_ordering, "
            "thread_id, notif, highlight, actions, ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (user_id, event_id) DO NOTHING",
            [
                (
                    r.user_id,
                    r.room_id,
                    r.event_id,
                    r.stream_ordering,
                    r.thread_id,
                    r.notif,
                    r.highlight,
                    actions_json(r.actions),
                    r.ts,
                )
                for r in rows
            ],
        )

    async def insert_generic(self, txn: Connection, row: GenericPushRow) -> None:
        """Stores the generic notification of an event (a retry is ignored)."""
        await txn.execute(
            "INSERT INTO event_push_generic (event_id, room_id, stream_ordering, thread_id, "
            "sender, highlight, actions, ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (event_id) DO NOTHING",
            row.event_id,
            row.room_id,
            row.stream_ordering,
            row.thread_id,
            row.sender,
            row.highlight,
            _json(list(row.actions)),
            row.ts,
        )

    async def member_joined(
        self, txn: Connection, user_id: str, room_id: str, stream_ordering: int
    ) -> None:
        """Records a join; a join that only changes the profile keeps the first one."""
        note_read_change(txn, user_id)
        await txn.execute(
            "INSERT INTO push_room_members (user_id, room_id, since) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id, room_id) DO NOTHING",
            user_id,
            room_id,
            stream_ordering,
        )

    async def member_left(self, txn: Connection, user_id: str, room_id: str) -> None:
        """Records that the user's membership is no longer ``join``."""
        note_read_change(txn, user_id)
        await txn.execute(
            "DELETE FROM push_room_members WHERE user_id = $1 AND room_id = $2", user_id, room_id
        )

    async def advance_read_position(
        self, txn: Connection, user_id: str, room_id: str, thread_id: str, stream_ordering: int
    ) -> None:
        """Moves the user's own read position forward (never back)."""
        note_read_change(txn, user_id)
        await txn.execute(
            "INSERT INTO push_read_positions (user_id, room_id, thread_id, stream_ordering) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, room_id, thread_id) DO UPDATE SET "
            "stream_ordering = EXCLUDED.stream_ordering "
            "WHERE push_read_positions.stream_ordering < EXCLUDED.stream_ordering",
            user_id,
            room_id,
            thread_id,
            stream_ordering,
        )

    async def unread_counts(
        self, conn: Connection, user_id: str, room_id: str
    ) -> dict[str, tuple[int, int]]:
        """Unread (notification, highlight) counts per thread of one room.

        Only threads with unread notifications appear.
        """
        return (await self.unread_counts_many(conn, user_id, [room_id])).get(room_id, {})

    async def unread_counts_many(
        self,
        conn: Connection,
        user_id: str,
        room_ids: Sequence[str],
        *,
        after: int | None = None,
        upto: int | None = None,
    ) -> dict[str, dict[str, tuple[int, int]]]:
        """:meth:`unread_counts` of many rooms, one query per chunk of rooms.

        Args:
            after, upto: count only notifications with ``after <
                stream_ordering <= upto`` (None: no bound).

        Returns:
            ``room → thread → (notifications, highlights)``; rooms without
            unread notifications are left out.
        """
        out: dict[str, dict[str, tuple[int, int]]] = {}
        for start in range(0, len(room_ids), _BATCH):
            chunk = list(room_ids[start : start + _BATCH])
            rooms = _placeholders(len(chunk), 2)
            rows = await self._unread_rows(
                conn, f"IN ({rooms})", user_id, *chunk, after=after, upto=upto
            )
            for row in rows:
                threads = out.setdefault(row["room_id"], {})
                n, h = threads.get(row["thread_id"], (0, 0))
                threads[row["thread_id"]] = (n + int(row["n"]), h + int(row["h"] or 0))
        return out

    async def total_unread(self, conn: Connection, user_id: str) -> int:
        """Unread notifications of the user over every room (a push badge count)."""
        return sum(int(r["n"]) for r in await self._unread_rows(conn, None, user_id))

    async def _unread_rows(
        self,
        conn: Connection,
        rooms: str | None,
        user_id: str,
        *room_ids: str,
        after: int | None = None,
        upto: int | None = None,
    ) -> list[Any]:
        """Unread (room_id, thread_id, n, h) groups of user $1, from the
        user's own rows and from the generic rows that apply to them.

        ``rooms`` is an SQL ``IN (...)`` over ``$2...`` (None: every room);
        ``after`` and ``upto`` bound the notifications' stream orderings.
        The user's read positions are read once per (room, thread) and
        joined, rather than looked up again for every notification.
        """
        in_rooms = f"AND r.room_id {rooms} " if rooms else ""
        positions = (
            "WITH rp AS (SELECT r.room_id, r.thread_id, MAX(e.stream_ordering) AS pos "
            "FROM receipts r JOIN events e ON e.event_id = r.event_id WHERE r.user_id = $1 "
            f"AND r.receipt_type IN ('m.read', 'm.read.private') {in_rooms}"
            "GROUP BY r.room_id, r.thread_id) "
        )
        unread = (
            "LEFT JOIN rp ru ON ru.room_id = {t}.room_id AND ru.thread_id = '' "
            "LEFT JOIN rp rt ON rt.room_id = {t}.room_id AND rt.thread_id = {t}.thread_id "
            "LEFT JOIN push_read_positions pu ON pu.user_id = $1 "
            "AND pu.room_id = {t}.room_id AND pu.thread_id = '' "
            "LEFT JOIN push_read_positions pt ON pt.user_id = $1 "
            "AND pt.room_id = {t}.room_id AND pt.thread_id = {t}.thread_id "
            "WHERE {t}.stream_ordering > COALESCE(ru.pos, -1) "
            "AND {t}.stream_ordering > COALESCE(rt.pos, -1) "
            "AND {t}.stream_ordering > COALESCE(pu.stream_ordering, -1) "
            "AND {t}.stream_ordering > COALESCE(pt.stream_ordering, -1) "
        )
        groups = (
            "SELECT {t}.room_id, {t}.thread_id, COUNT(*) AS n, "
            "SUM(CASE WHEN {t}.highlight THEN 1 ELSE 0 END) AS h "
        )
        bounds: list[int] = []
        for op, value in ((">", after), ("<=", upto)):
            if value is not None:
                bounds.append(value)
                unread += f"AND {{t}}.stream_ordering {op} ${len(room_ids) + 1 + len(bounds)} "
        # One statement (one round trip): the user's own rows, then the
        # generic rows that apply to them.
        return await conn.fetch(
            positions
            + groups.format(t="a")
            + "FROM event_push_actions a "
            + unread.format(t="a")
            + "AND a.user_id = $1 AND a.notif "
            + (f"AND a.room_id {rooms} " if rooms else "")
            + "GROUP BY a.room_id, a.thread_id "
            "UNION ALL "
            + groups.format(t="g")
            + "FROM push_room_members m JOIN event_push_generic g "
            "ON g.room_id = m.room_id AND g.stream_ordering > m.since "
            + unread.format(t="g")
            + "AND m.user_id = $1 AND g.sender <> $1 "
            + (f"AND m.room_id {rooms} " if rooms else "")
            + "AND NOT EXISTS (SELECT 1 FROM event_push_actions x "
            "WHERE x.user_id = $1 AND x.event_id = g.event_id) "
            "GROUP BY g.room_id, g.thread_id",
            user_id,
            *room_ids,
            *bounds,
        )

    async def notifications(
        self,
        conn: Connection,
        user_id: str,
        *,
        before: int | None,
        limit: int,
        only_highlight: bool,
    ) -> list[NotificationRow]:
        """The user's notifications, newest first.

        Args:
            before: only rows with a stream ordering strictly below this.
            limit: at most this many rows.
            only_highlight: only rows that highlight.
        """
        # Each side is ordered and limited on its own, then merged.
        rows = await conn.fetch(
            "SELECT * FROM ("
            "SELECT a.room_id, a.event_id, a.stream_ordering, a.actions, a.ts, "
            f"CASE WHEN a.stream_ordering <= {self._covering} THEN 1 ELSE 0 END AS is_read "
            "FROM event_push_actions a WHERE a.user_id = $1 AND a.notif "
            "AND a.stream_ordering < $2 AND (a.highlight OR NOT $3) "
            "ORDER BY a.stream_ordering DESC LIMIT $4) own "
            "UNION ALL SELECT * FROM ("
            "SELECT g.room_id, g.event_id, g.stream_ordering, g.actions, g.ts, "
            f"CASE WHEN g.stream_ordering <= {self._covering_generic} THEN 1 ELSE 0 END "
            f"AS is_read {_GENERIC_FOR_USER} "
            "AND g.stream_ordering < $2 AND (g.highlight OR NOT $3) "
            "ORDER BY g.stream_ordering DESC LIMIT $4) generic "
            "ORDER BY stream_ordering DESC LIMIT $4",
            user_id,
            before if before is not None else 2**62,
            only_highlight,
            limit,
        )
        return [
            NotificationRow(
                room_id=r["room_id"],
                event_id=r["event_id"],
                stream_ordering=int(r["stream_ordering"]),
                actions=json.loads(r["actions"]),
                ts=int(r["ts"]),
                read=bool(r["is_read"]),
            )
            for r in rows
        ]

    # --- pushers ----------------------------------------------------------------

    async def upsert_pusher(self, txn: Connection, pusher: Pusher) -> None:
        """Adds the pusher, or updates the one with its (user, app_id, pushkey)."""
        await txn.execute(
            "INSERT INTO pushers (id, user_id, kind, app_id, pushkey, pushkey_ts, "
            "app_display_name, device_display_name, lang, data, profile_tag, access_token_id, "
            "device_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
            "ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET kind = EXCLUDED.kind, "
            "pushkey_ts = EXCLUDED.pushkey_ts, app_display_name = EXCLUDED.app_display_name, "
            "device_display_name = EXCLUDED.device_display_name, lang = EXCLUDED.lang, "
            "data = EXCLUDED.data, profile_tag = EXCLUDED.profile_tag, "
            "access_token_id = EXCLUDED.access_token_id, device_id = EXCLUDED.device_id, "
            "failing_since = NULL",
            pusher.id,
            pusher.user_id,
            pusher.kind,
            pusher.app_id,
            pusher.pushkey,
            pusher.pushkey_ts,
            pusher.app_display_name,
            pusher.device_display_name,
            pusher.lang,
            _json(pusher.data),
            pusher.profile_tag,
            pusher.access_token_id,
            pusher.device_id,
        )

    async def delete_pusher(self, txn: Connection, user_id: str, app_id: str, pushkey: str) -> int:
        """Deletes one pusher of the user; returns how many rows went (0 or 1)."""
        return await txn.execute(
            "DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3",
            user_id,
            app_id,
            pushkey,
        )

    async def delete_pusher_of_others(
        self, txn: Connection, app_id: str, pushkey: str, keep_user_id: str
    ) -> None:
        """Deletes the pushers with this app id and pushkey of every other user."""
        await txn.execute(
            "DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3",
            app_id,
            pushkey,
            keep_user_id,
        )

    async def delete_pushers_of_device(self, txn: Connection, user_id: str, device_id: str) -> None:
        await txn.execute(
            "DELETE FROM pushers WHERE user_id = $1 AND device_id = $2", user_id, device_id
        )

    async def get_pushers(self, conn: Connection, user_id: str) -> list[Pusher]:
        rows = await conn.fetch(
            f"SELECT {_PUSHER_COLUMNS} FROM pushers WHERE user_id = $1 ORDER BY id", user_id
        )
        return [_pusher(r) for r in rows]

    async def get_pusher(self, conn: Connection, pusher_id: int) -> Pusher | None:
        row = await conn.fetchrow(f"SELECT {_PUSHER_COLUMNS} FROM pushers WHERE id = $1", pusher_id)
        return _pusher(row) if row is not None else None

    async def users_with_pushers(self, conn: Connection) -> set[str]:
        rows = await conn.fetch("SELECT DISTINCT user_id FROM pushers")
        return {r["user_id"] for r in rows}

    async def record_delivery(
        self,
        txn: Connection,
        pusher_id: int,
        *,
        stream_ordering: int | None,
        failing_since: int | None,
    ) -> None:
        """Records the outcome of a delivery attempt (failing_since None: healthy)."""
        await txn.execute(
            "UPDATE pushers SET failing_since = $2, "
            "last_stream_ordering = COALESCE($3, last_stream_ordering) WHERE id = $1",
            pusher_id,
            failing_since,
            stream_ordering,
        )
