"""State groups, the room's current state and its forward extremities.

A *state group* is an immutable state map (``(type, state_key) → event_id``).
It is stored either as a full snapshot (``prev_group IS NULL``) or as a
delta of a few rows against ``prev_group``. A message shares the group of
the state it was sent in; a state event adds a group holding one delta row.
Every :data:`SNAPSHOT_INTERVAL` deltas a full snapshot is written instead,
so reading any group walks at most that many links (one recursive query).

``current_state_events`` mirrors the state after the forward extremities,
with the membership denormalised for "rooms of a user" and member lists.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from homeserver.core.events import StateKey
from homeserver.storage.db import Connection

#: A full snapshot is written instead of the delta that would make the chain
#: from the nearest snapshot this long.
SNAPSHOT_INTERVAL = 100

#: How many (group, key) lookups to remember. Groups never change, so these
#: entries never go stale.
_KEY_CACHE_SIZE = 50_000

_CHAIN = (
    "WITH RECURSIVE chain(id, prev_group, n) AS ("
    " SELECT id, prev_group, 0 FROM state_groups WHERE id = $1"
    " UNION ALL"
    " SELECT g.id, g.prev_group, c.n + 1 FROM state_groups g JOIN chain c ON g.id = c.prev_group"
    ") "
)


@dataclass(frozen=True, slots=True)
class CurrentStateEntry:
    type: str
    state_key: str
    event_id: str
    membership: str | None


class StateStore:
    """Reads and writes state groups, current state and forward extremities."""

    def __init__(self) -> None:
        self._key_cache: OrderedDict[tuple[int, StateKey], str | None] = OrderedDict()

    # --- state groups --------------------------------------------------------

    async def store_group(
        self,
        txn: Connection,
        *,
        group_id: int,
        room_id: str,
        prev_group: int | None,
        prev_delta_depth: int,
        delta: Mapping[StateKey, str | None],
        full_state: Mapping[StateKey, str],
    ) -> int:
        """Writes a new group: a delta on ``prev_group`` or a full snapshot.

        Args:
            txn: the write transaction.
            group_id: the new group's id (from the state group id generator).
            room_id: the room.
            prev_group: the group the delta applies to; None forces a snapshot.
            prev_delta_depth: that group's distance from its snapshot.
            delta: the changed entries (None removes an entry).
            full_state: the complete state of the new group, written when a
                snapshot is due.

        Returns:
            The new group's delta depth (0 for a snapshot).
        """
        if prev_group is None or prev_delta_depth + 1 >= SNAPSHOT_INTERVAL:
            depth, parent = 0, None
            rows: Iterable[tuple[StateKey, str | None]] = full_state.items()
        else:
            depth, parent = prev_delta_depth + 1, prev_group
            rows = delta.items()
        await txn.execute(
            "INSERT INTO state_groups (id, room_id, prev_group, delta_depth) "
            "VALUES ($1, $2, $3, $4)",
            group_id,
            room_id,
            parent,
            depth,
        )
        args = [(group_id, t, sk, event_id) for (t, sk), event_id in rows]
        if args:
            await txn.executemany(
                "INSERT INTO state_group_entries (state_group, type, state_key, event_id) "
                "VALUES ($1, $2, $3, $4)",
                args,
            )
        return depth

    async def get_group_depth(self, conn: Connection, group_id: int) -> int | None:
        depth = await conn.fetchval("SELECT delta_depth FROM state_groups WHERE id = $1", group_id)
        return int(depth) if depth is not None else None

    async def get_state(self, conn: Connection, group_id: int) -> dict[StateKey, str]:
        """The full state map of a group (snapshot plus its deltas applied in order)."""
        rows = await conn.fetch(
            _CHAIN + "SELECT c.n, e.type, e.state_key, e.event_id FROM chain c "
            "JOIN state_group_entries e ON e.state_group = c.id ORDER BY c.n DESC",
            group_id,
        )
        state: dict[StateKey, str] = {}
        for row in rows:
            key = (row["type"], row["state_key"])
            if row["event_id"] is None:
                state.pop(key, None)
            else:
                state[key] = row["event_id"]
        return state

    async def get_state_keys(
        self, conn: Connection, group_id: int, keys: Iterable[StateKey]
    ) -> dict[StateKey, str]:
        """Only the given entries of a group's state (absent keys are left out)."""
        wanted = list(dict.fromkeys(keys))
        out: dict[StateKey, str] = {}
        missing: list[StateKey] = []
        for key in wanted:
            cache_key = (group_id, key)
            if cache_key in self._key_cache:
                self._key_cache.move_to_end(cache_key)
                cached = self._key_cache[cache_key]
                if cached is not None:
                    out[key] = cached
            else:
                missing.append(key)
        if not missing:
            return out
        conditions = " OR ".join(
            f"(e.type = ${2 * i + 2} AND e.state_key = ${2 * i + 3})" for i in range(len(missing))
        )
        args: list[object] = [group_id]
        for t, sk in missing:
            args.extend((t, sk))
        rows = await conn.fetch(
            _CHAIN + "SELECT c.n, e.type, e.state_key, e.event_id FROM chain c "
            f"JOIN state_group_entries e ON e.state_group = c.id WHERE {conditions} "
            "ORDER BY c.n DESC",
            *args,
        )
        found: dict[StateKey, str | None] = dict.fromkeys(missing)
        for row in rows:  # nearest group last, so it wins
            found[(row["type"], row["state_key"])] = row["event_id"]
        for key, event_id in found.items():
            self._remember((group_id, key), event_id)
            if event_id is not None:
                out[key] = event_id
        return out

    def cached_state_keys(
        self, group_id: int, keys: Iterable[StateKey]
    ) -> dict[StateKey, str] | None:
        """:meth:`get_state_keys` from memory only: None unless every key is
        remembered (then no connection is needed)."""
        out: dict[StateKey, str] = {}
        for key in keys:
            cache_key = (group_id, key)
            if cache_key not in self._key_cache:
                return None
            self._key_cache.move_to_end(cache_key)
            cached = self._key_cache[cache_key]
            if cached is not None:
                out[key] = cached
        return out

    def _remember(self, cache_key: tuple[int, StateKey], event_id: str | None) -> None:
        self._key_cache[cache_key] = event_id
        if len(self._key_cache) > _KEY_CACHE_SIZE:
            self._key_cache.popitem(last=False)

    # --- current state -------------------------------------------------------

    async def update_current_state(
        self,
        txn: Connection,
        room_id: str,
        changes: Mapping[StateKey, tuple[str, str | None] | None],
    ) -> None:
        """Applies changes to ``current_state_events``.

        Args:
            changes: ``(type, state_key) → (event_id, membership)``; None
                removes the entry.
        """
        upserts = [(room_id, t, sk, v[0], v[1]) for (t, sk), v in changes.items() if v is not None]
        deletes = [(room_id, t, sk) for (t, sk), v in changes.items() if v is None]
        if upserts:
            await txn.executemany(
                "INSERT INTO current_state_events (room_id, type, state_key, event_id, membership) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id, type, state_key) "
                "DO UPDATE SET event_id = EXCLUDED.event_id, membership = EXCLUDED.membership",
                upserts,
            )
        if deletes:
            await txn.executemany(
                "DELETE FROM current_state_events "
                "WHERE room_id = $1 AND type = $2 AND state_key = $3",
                deletes,
            )

    async def get_current_state(self, conn: Connection, room_id: str) -> dict[StateKey, str]:
        rows = await conn.fetch(
            "SELECT type, state_key, event_id FROM current_state_events WHERE room_id = $1",
            room_id,
        )
        return {(r["type"], r["state_key"]): r["event_id"] for r in rows}

    async def get_members(
        self, conn: Connection, room_id: str, membership: str | None = None
    ) -> list[CurrentStateEntry]:
        """Current ``m.room.member`` entries of a room, optionally of one membership."""
        sql = (
            "SELECT state_key, event_id, membership FROM current_state_events "
            "WHERE room_id = $1 AND type = 'm.room.member'"
        )
        args: list[object] = [room_id]
        if membership is not None:
            sql += " AND membership = $2"
            args.append(membership)
        rows = await conn.fetch(sql + " ORDER BY state_key", *args)
        return [
            CurrentStateEntry("m.room.member", r["state_key"], r["event_id"], r["membership"])
            for r in rows
        ]

    async def rooms_for_user(
        self, conn: Connection, user_id: str, memberships: Iterable[str] = ("join",)
    ) -> dict[str, str]:
        """``room_id → membership`` of the user's current memberships among ``memberships``."""
        rows = await conn.fetch(
            "SELECT room_id, membership FROM current_state_events "
            "WHERE type = 'm.room.member' AND state_key = $1",
            user_id,
        )
        allowed = set(memberships)
        return {r["room_id"]: r["membership"] for r in rows if r["membership"] in allowed}

    # --- forward extremities -------------------------------------------------

    async def set_forward_extremities(
        self, txn: Connection, room_id: str, event_ids: Iterable[str]
    ) -> None:
        await txn.execute("DELETE FROM room_forward_extremities WHERE room_id = $1", room_id)
        await txn.executemany(
            "INSERT INTO room_forward_extremities (room_id, event_id) VALUES ($1, $2)",
            [(room_id, e) for e in event_ids],
        )

    async def get_forward_extremities(self, conn: Connection, room_id: str) -> list[str]:
        rows = await conn.fetch(
            "SELECT event_id FROM room_forward_extremities WHERE room_id = $1 ORDER BY event_id",
            room_id,
        )
        return [r["event_id"] for r in rows]
