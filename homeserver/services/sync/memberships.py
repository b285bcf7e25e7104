"""A user's memberships for ``/sync``, remembered between their requests.

Every ``/sync`` starts with the user's latest membership per room at the
token's room position (``SyncStore.memberships_at``). Those rows only
change with a member event about the user, which the event persister
announces to :meth:`MembershipCache.in_transaction` inside the writing
transaction, so before its position can become visible. A result read at
position ``a`` therefore still holds at ``b`` when no member event about
the user was written after ``min(a, b)``. This assumes every event is
written by this process (the persister hook sees them all).

Rows also change without an event in one case: ``/forget`` marks a left
room forgotten. A result holding a room the user left or was banned from
and has not forgotten is therefore not kept (most active users' lists are
all joins and invites). Entries also expire after ``ttl_ms`` and the cache
holds at most ``max_users`` users, least recently syncing dropped first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from homeserver.services.clock import Clock
from homeserver.storage.db import Connection
from homeserver.storage.stores.events import StoredEvent
from homeserver.storage.stores.sync import MembershipAt

#: users whose memberships are kept
MAX_USERS = 10_000
#: how long an entry is kept at most
TTL_MS = 60_000
#: memberships that ``/forget`` cannot touch (it refuses rooms the user is in)
_IN_ROOM = frozenset({"join", "invite", "knock"})


@dataclass(frozen=True, slots=True)
class _Entry:
    upto: int
    expires_ms: int
    memberships: tuple[MembershipAt, ...]


class MembershipCache:
    """``user → memberships at a position``; see the module docstring."""

    def __init__(self, clock: Clock, *, max_users: int = MAX_USERS, ttl_ms: int = TTL_MS) -> None:
        self._clock = clock
        self._max_users = max_users
        self._ttl_ms = ttl_ms
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        #: user → the highest position of a member event written about them
        self._changed: dict[str, int] = {}
        #: the highest position of the notes dropped to bound memory: any
        #: user may have changed up to there
        self._floor = 0

    async def in_transaction(self, txn: Connection, events: Sequence[StoredEvent]) -> None:
        """The persister's in-transaction hook: notes member events (no writes)."""
        del txn
        for stored in events:
            pdu = stored.pdu
            if pdu.type == "m.room.member" and pdu.state_key is not None:
                user_id = pdu.state_key
                self._changed[user_id] = max(self._changed.get(user_id, 0), stored.stream_ordering)
                self._entries.pop(user_id, None)
        if len(self._changed) > self._max_users:
            self._floor = max(self._floor, *self._changed.values())
            self._changed.clear()
            self._entries.clear()

    def _changed_at(self, user_id: str) -> int:
        return self._changed.get(user_id, self._floor)

    def get(self, user_id: str, upto: int) -> list[MembershipAt] | None:
        """The user's memberships at ``upto`` if known, else None."""
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        if entry.expires_ms <= self._clock.time_ms():
            del self._entries[user_id]
            return None
        if self._changed_at(user_id) > min(upto, entry.upto):
            return None
        self._entries.move_to_end(user_id)
        return list(entry.memberships)

    def put(self, user_id: str, upto: int, memberships: Sequence[MembershipAt]) -> None:
        """Remembers what ``memberships_at(user_id, upto)`` returned."""
        if any(m.membership not in _IN_ROOM and not m.forgotten for m in memberships):
            return
        if self._changed_at(user_id) > upto:
            return  # already outdated: a newer member event was written meanwhile
        self._entries[user_id] = _Entry(
            upto, self._clock.time_ms() + self._ttl_ms, tuple(memberships)
        )
        self._entries.move_to_end(user_id)
        while len(self._entries) > self._max_users:
            self._entries.popitem(last=False)
