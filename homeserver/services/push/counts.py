"""Unread notification counts and ``GET /notifications``.

Counts are the user's ``event_push_actions`` rows after their read position
(see ``storage/stores/push.py`` for how receipts and sent events set it).
``/sync`` reads them through ``push_counts`` (``unread_notifications``) and
``thread_counts`` (``unread_thread_notifications``, spec v1.4 threaded
notifications: the main timeline is the thread ``main``).

Counting is linear in the unread notifications, and a member who never
reads a busy room has thousands. So ``/sync``'s counts, taken up to its
token's room position, are remembered per (user, room): the next ``/sync``
adds only the notifications after that position, as long as nothing the
count depends on changed meanwhile (``storage/stores/push_changes.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.core.errors import InvalidParam
from homeserver.services.clock import Clock
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.rooms.format import client_event
from homeserver.storage.db import Database
from homeserver.storage.stores.push import MAIN_THREAD, PushStore
from homeserver.storage.stores.push_changes import READ_VERSIONS

JsonDict = dict[str, Any]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

#: (user, room) counts remembered at most (least recently used go first)
COUNTS_CACHE_SIZE = 50_000

ThreadCounts = dict[str, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class _Counted:
    """A room's counts for a user, up to a stream position."""

    upto: int
    #: ``READ_VERSIONS.of(user)`` read before the count
    versions: tuple[int, int]
    threads: ThreadCounts


def _add(into: ThreadCounts, more: ThreadCounts) -> ThreadCounts:
    out = dict(into)
    for thread, (n, h) in more.items():
        n0, h0 = out.get(thread, (0, 0))
        out[thread] = (n0 + n, h0 + h)
    return out


class PushCounts:
    def __init__(self, db: Database, store: PushStore, cache: RoomCache, clock: Clock) -> None:
        self._db = db
        self._store = store
        self._cache = cache
        self._clock = clock
        self._counted: OrderedDict[tuple[str, str], _Counted] = OrderedDict()

    async def push_counts(self, user_id: str, room_id: str) -> tuple[int, int]:
        """``(notification_count, highlight_count)`` of the room, over all threads."""
        async with self._db.read() as conn:
            per_thread = await self._store.unread_counts(conn, user_id, room_id)
        return (
            sum(n for n, _ in per_thread.values()),
            sum(h for _, h in per_thread.values()),
        )

    async def thread_counts(self, user_id: str, room_id: str) -> dict[str, tuple[int, int]]:
        """``(notification_count, highlight_count)`` per thread with unread
        notifications; the main timeline is the key ``"main"``."""
        async with self._db.read() as conn:
            return await self._store.unread_counts(conn, user_id, room_id)

    async def push_counts_many(
        self, user_id: str, room_ids: Sequence[str], upto: int | None = None
    ) -> dict[str, tuple[int, int]]:
        """:meth:`push_counts` of many rooms in one query (per chunk); every
        room of ``room_ids`` is in the result. ``upto``: see
        :meth:`thread_counts_many`."""
        per_room = await self.thread_counts_many(user_id, room_ids, upto)
        return {
            room_id: (
                sum(n for n, _ in per_room.get(room_id, {}).values()),
                sum(h for _, h in per_room.get(room_id, {}).values()),
            )
            for room_id in room_ids
        }

    async def thread_counts_many(
        self, user_id: str, room_ids: Sequence[str], upto: int | None = None
    ) -> dict[str, ThreadCounts]:
        """:meth:`thread_counts` of many rooms; rooms with nothing unread are left out.

        Args:
            upto: count notifications up to this room stream position (a
                sync token's, below which everything has committed). Then
                earlier counts are reused and only what came after them is
                read. None: count everything, remember nothing.
        """
        if not room_ids:
            return {}
        if upto is None:
            async with self._db.read() as conn:
                return await self._store.unread_counts_many(conn, user_id, room_ids)
        versions = READ_VERSIONS.of(user_id)
        out: dict[str, ThreadCounts] = {}
        fresh: list[str] = []
        # rooms whose earlier counts still hold, grouped by their position
        since: dict[int, list[str]] = {}
        for room_id in room_ids:
            known = self._counted.get((user_id, room_id))
            if known is None or known.versions != versions or known.upto > upto:
                fresh.append(room_id)
            elif known.upto == upto:
                out[room_id] = known.threads
            else:
                since.setdefault(known.upto, []).append(room_id)
        async with self._db.read() as conn:
            if fresh:
                counted = await self._store.unread_counts_many(conn, user_id, fresh, upto=upto)
                out.update(counted)
            for after, rooms in since.items():
                added = await self._store.unread_counts_many(
                    conn, user_id, rooms, after=after, upto=upto
                )
                for room_id in rooms:
                    known = self._counted[(user_id, room_id)]
                    out[room_id] = _add(known.threads, added.get(room_id, {}))
        for room_id in room_ids:
            self._remember(user_id, room_id, _Counted(upto, versions, out.get(room_id, {})))
        return {room_id: threads for room_id, threads in out.items() if threads}

    def _remember(self, user_id: str, room_id: str, counted: _Counted) -> None:
        key = (user_id, room_id)
        self._counted[key] = counted
        self._counted.move_to_end(key)
        while len(self._counted) > COUNTS_CACHE_SIZE:
            self._counted.popitem(last=False)

    async def main_and_threads(
        self, user_id: str, room_id: str
    ) -> tuple[tuple[int, int], dict[str, tuple[int, int]]]:
        """The main timeline's counts and the other threads' counts (threaded sync)."""
        per_thread = await self.thread_counts(user_id, room_id)
        main = per_thread.pop(MAIN_THREAD, (0, 0))
        return main, per_thread

    async def total_unread(self, user_id: str) -> int:
        """Unread notifications over every room (the push badge)."""
        async with self._db.read() as conn:
            return await self._store.total_unread(conn, user_id)

    async def notifications(
        self, user_id: str, *, from_token: str | None, limit: int | None, only: str | None
    ) -> JsonDict:
        """``GET /notifications``: the user's notifications, newest first.

        Args:
            from_token: a ``next_token`` of an earlier page.
            limit: page size (default 20, at most 100).
            only: ``"highlight"`` for highlights only; other values are ignored.

        Raises:
            InvalidParam: a malformed ``from`` token or limit.
        """
        before: int | None = None
        if from_token:
            try:
                before = int(from_token)
            except ValueError as e:
                raise InvalidParam("Invalid 'from' token") from e
            if not -(2**63) <= before < 2**63:  # beyond any stream position
                raise InvalidParam("Invalid 'from' token")
        if limit is None:
            limit = DEFAULT_LIMIT
        if limit < 0:
            raise InvalidParam("'limit' must not be negative")
        limit = min(limit, MAX_LIMIT)
        async with self._db.read() as conn:
            rows = await self._store.notifications(
                conn, user_id, before=before, limit=limit, only_highlight=only == "highlight"
            )
        events = await self._cache.events([r.event_id for r in rows])
        now = self._clock.time_ms()
        out = []
        for row in rows:
            stored = events.get(row.event_id)
            if stored is None:
                continue
            redacted_because = None
            if stored.redacted_by is not None:
                redaction = await self._cache.event(stored.redacted_by)
                redacted_because = (
                    client_event(redaction.pdu, now_ms=now, include_room_id=False)
                    if redaction is not None
                    else {"event_id": stored.redacted_by}
                )
            out.append(
                {
                    "actions": row.actions,
                    "event": client_event(
                        stored.pdu,
                        now_ms=now,
                        redacted_because=redacted_because,
                        include_room_id=False,
                    ),
                    "read": row.read,
                    "room_id": row.room_id,
                    "ts": row.ts,
                }
            )
        body: JsonDict = {"notifications": out}
        if rows and len(rows) == limit:
            body["next_token"] = str(rows[-1].stream_ordering)
        return body
