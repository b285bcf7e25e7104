"""History visibility: which events a user may see.

For each event we read, from the state *after* the event (its state group),
the room's ``history_visibility`` and the user's membership, then apply the
spec's rules:

- ``world_readable``: everyone;
- ``shared`` (the default): members who were joined at the event, and
  everyone who joined later: members currently joined see history from
  before they joined, and a member who left sees it up to their leave
  (``shared_until``), as Synapse shows it to departed members;
- ``invited``: joined or invited at the event;
- ``joined``: joined at the event.

The newest events of a room usually carry its current state group; those
are answered from the room cache's current state without a query (what a
burst of ``/sync`` requests woken by one message needs).

A user always sees their own membership events (so a user who left still
sees that they left). Messages share their state group, so a page of
history needs one small keyed lookup per distinct group (cached: groups
never change).

An ``m.room.history_visibility`` event itself is judged by the more
permissive of the previous setting and its own (as Synapse does), so the
change that closes history stays visible to those who saw what came before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from homeserver.core.events import StateKey
from homeserver.services.rooms.cache import RoomCache
from homeserver.storage.db import Database
from homeserver.storage.stores.events import StoredEvent
from homeserver.storage.stores.state import StateStore

HISTORY_KEY: StateKey = ("m.room.history_visibility", "")
DEFAULT_VISIBILITY = "shared"
#: From the most to the least permissive.
_PRIORITY = ("world_readable", "shared", "invited", "joined")


def more_permissive(a: str, b: str) -> str:
    """The more permissive of two settings (unknown values count as shared)."""
    rank_a = _PRIORITY.index(a) if a in _PRIORITY else 1
    rank_b = _PRIORITY.index(b) if b in _PRIORITY else 1
    return a if rank_a <= rank_b else b


@dataclass(frozen=True, slots=True)
class VisibleEvent:
    stored: StoredEvent
    #: the user's membership at the event ("leave" when never a member)
    membership: str


class HistoryVisibility:
    def __init__(self, db: Database, state: StateStore, cache: RoomCache) -> None:
        self._db = db
        self._state = state
        self._cache = cache

    async def at_groups(
        self,
        user_id: str,
        groups: Iterable[int],
        rooms: Mapping[int, str] | None = None,
    ) -> dict[int, tuple[str, str]]:
        """``group → (history_visibility, membership of user_id)``.

        Args:
            rooms: the room of each group, when known: a group that is its
                room's current state is answered from the room cache.
        """
        keys = [HISTORY_KEY, ("m.room.member", user_id)]
        ids_by_group: dict[int, dict[StateKey, str]] = {}
        stored: list[int] = []
        for group in set(groups):
            room_id = rooms.get(group) if rooms is not None else None
            snapshot = self._cache.cached_room(room_id) if room_id is not None else None
            # The latest events of a room share its current group (new
            # messages): no state lookup.
            if snapshot is not None and snapshot.state_group == group:
                ids_by_group[group] = {k: snapshot.state[k] for k in keys if k in snapshot.state}
                continue
            # Groups never change: what was looked up once needs no reader.
            cached = self._state.cached_state_keys(group, keys)
            if cached is not None:
                ids_by_group[group] = cached
            else:
                stored.append(group)
        if stored:
            async with self._db.read() as conn:
                for group in stored:
                    ids_by_group[group] = await self._state.get_state_keys(conn, group, keys)
        wanted = {eid for ids in ids_by_group.values() for eid in ids.values()}
        pdus = await self._cache.pdus(wanted)
        out: dict[int, tuple[str, str]] = {}
        for group, ids in ids_by_group.items():
            visibility = DEFAULT_VISIBILITY
            history = pdus.get(ids.get(HISTORY_KEY, ""))
            if history is not None:
                value = history.content.get("history_visibility")
                if isinstance(value, str):
                    visibility = value
            member = pdus.get(ids.get(("m.room.member", user_id), ""))
            membership = (member.membership if member is not None else None) or "leave"
            out[group] = (visibility, membership)
        return out

    async def filter(
        self,
        user_id: str,
        events: Sequence[StoredEvent],
        *,
        currently_joined: bool,
        shared_until: int | None = None,
    ) -> list[VisibleEvent]:
        """The events of ``events`` the user may see, in the same order.

        Args:
            currently_joined: the user is joined now (``shared`` history is
                theirs).
            shared_until: for a member who left, the stream ordering of
                their leave: ``shared`` history up to it is theirs.
        """
        rooms = {e.state_group: e.pdu.room_id for e in events if e.state_group is not None}
        groups = await self.at_groups(user_id, rooms, rooms)
        previous = await self._previous_settings(events)
        out: list[VisibleEvent] = []
        for stored in events:
            if stored.state_group is None:
                continue
            visibility, membership = groups[stored.state_group]
            pdu = stored.pdu
            if pdu.event_id in previous:
                visibility = more_permissive(visibility, previous[pdu.event_id])
            own_membership = pdu.type == "m.room.member" and pdu.state_key == user_id
            joined_later = currently_joined or (
                shared_until is not None and stored.stream_ordering <= shared_until
            )
            if own_membership or _allowed(visibility, membership, joined_later):
                out.append(VisibleEvent(stored, membership))
        return out

    async def _previous_settings(self, events: Sequence[StoredEvent]) -> dict[str, str]:
        """``event id → the setting it replaced`` for history visibility events."""
        replaced: dict[str, str] = {}
        for stored in events:
            pdu = stored.pdu
            if (pdu.type, pdu.state_key) == HISTORY_KEY:
                prev = pdu.unsigned.get("replaces_state")
                replaced[pdu.event_id] = prev if isinstance(prev, str) else ""
        if not replaced:
            return {}
        pdus = await self._cache.pdus({p for p in replaced.values() if p})
        out: dict[str, str] = {}
        for event_id, prev_id in replaced.items():
            prev = pdus.get(prev_id)
            value = prev.content.get("history_visibility") if prev is not None else None
            out[event_id] = value if isinstance(value, str) else DEFAULT_VISIBILITY
        return out


def _allowed(visibility: str, membership: str, joined_later: bool) -> bool:
    if visibility == "world_readable" or membership == "join":
        return True
    if visibility == "invited":
        return membership == "invite"
    if visibility == "joined":
        return False
    # "shared", and values we do not know, which are treated like it.
    return joined_later
