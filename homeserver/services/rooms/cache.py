"""In-memory caches that keep sending cheap in big rooms.

``RoomCache`` keeps, per room: the room version, the current state as ids
(``(type, state_key) → event_id``), the forward extremities, the depth and
the current state group. Building an event then needs no state load: the
auth events are looked up in the map and fetched from the event LRU. After
every persist the writer (holding the room's lock) updates the entry.

Staleness rules:

- only the persist path changes a room entry, and it does so after commit;
- a reader that loads an entry from the database while a persist commits
  could otherwise store a stale entry, so every change bumps the room's
  generation and a load only stores its result if the generation did not
  move meanwhile.

The event LRU holds ``StoredEvent`` values. PDUs are immutable; the only
mutable fact, ``redacted_by``, is replaced by the redaction persist.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from homeserver.core.events import PDU, StateKey
from homeserver.core.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from homeserver.storage.db import Database
from homeserver.storage.stores.events import EventStore, StoredEvent
from homeserver.storage.stores.rooms import RoomStore
from homeserver.storage.stores.state import StateStore

ROOM_CACHE_SIZE = 1_000
EVENT_CACHE_SIZE = 20_000


@dataclass(slots=True)
class RoomSnapshot:
    """The current state of a room as the event writer sees it.

    Mutated only by the persist path, after commit, under the room lock.
    Readers must not keep ``state`` across an ``await`` if they need a
    consistent view; copy it instead.
    """

    room_id: str
    room_version: RoomVersion
    state: dict[StateKey, str]
    extremities: list[str]
    depth: int
    #: the group holding ``state`` (None only before the create event)
    state_group: int | None
    #: distance of ``state_group`` from its snapshot
    delta_depth: int
    #: membership per user, mirrored from the member events in ``state``
    memberships: dict[str, str] = field(default_factory=dict)

    def membership_of(self, user_id: str) -> str | None:
        return self.memberships.get(user_id)


class RoomCache:
    """Room snapshots and an LRU of events, loaded from the database on miss."""

    def __init__(
        self,
        db: Database,
        rooms: RoomStore,
        events: EventStore,
        state: StateStore,
        *,
        room_cache_size: int = ROOM_CACHE_SIZE,
        event_cache_size: int = EVENT_CACHE_SIZE,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._events = events
        self._state = state
        self._room_cache_size = room_cache_size
        self._event_cache_size = event_cache_size
        self._snapshots: OrderedDict[str, RoomSnapshot] = OrderedDict()
        self._generations: dict[str, int] = {}
        self._event_lru: OrderedDict[str, StoredEvent] = OrderedDict()
        #: bumped by every redaction and purge (see ``events``)
        self._event_changes = 0

    # --- rooms ---------------------------------------------------------------

    async def room(self, room_id: str) -> RoomSnapshot | None:
        """The room's snapshot, or None when we do not know the room."""
        snapshot = self._snapshots.get(room_id)
        if snapshot is not None:
            self._snapshots.move_to_end(room_id)
            return snapshot
        generation = self._generations.get(room_id, 0)
        snapshot = await self._load_room(room_id)
        if snapshot is not None and self._generations.get(room_id, 0) == generation:
            self._store_room(snapshot)
        return snapshot

    def cached_room(self, room_id: str) -> RoomSnapshot | None:
        """The room's snapshot if it is in memory (never reads the database)."""
        return self._snapshots.get(room_id)

    async def _load_room(self, room_id: str) -> RoomSnapshot | None:
        async with self._db.read() as conn:
            row = await self._rooms.get_room(conn, room_id)
            if row is None:
                return None
            room_version = KNOWN_ROOM_VERSIONS[row.room_version]
            state = await self._state.get_current_state(conn, room_id)
            extremities = await self._state.get_forward_extremities(conn, room_id)
            depth = await self._events.room_max_depth(conn, room_id)
            members = await self._state.get_members(conn, room_id)
            extremity_events = await self._events.get_events(conn, extremities)
            latest = max(extremity_events.values(), key=lambda e: e.stream_ordering, default=None)
            group = latest.state_group if latest is not None else None
            delta_depth = 0
            if group is not None:
                delta_depth = await self._state.get_group_depth(conn, group) or 0
        return RoomSnapshot(
            room_id=room_id,
            room_version=room_version,
            state=state,
            extremities=extremities,
            depth=depth,
            state_group=group,
            delta_depth=delta_depth,
            memberships={m.state_key: m.membership or "" for m in members},
        )

    def _store_room(self, snapshot: RoomSnapshot) -> None:
        self._snapshots[snapshot.room_id] = snapshot
        self._snapshots.move_to_end(snapshot.room_id)
        while len(self._snapshots) > self._room_cache_size:
            self._snapshots.popitem(last=False)

    def set_room(self, snapshot: RoomSnapshot) -> None:
        """Installs a snapshot after a commit (persist path only)."""
        self._generations[snapshot.room_id] = self._generations.get(snapshot.room_id, 0) + 1
        self._store_room(snapshot)

    def drop_room(self, room_id: str) -> None:
        """Forgets a room's snapshot; the next use reloads it."""
        self._generations[room_id] = self._generations.get(room_id, 0) + 1
        self._snapshots.pop(room_id, None)

    # --- events --------------------------------------------------------------

    async def events(self, event_ids: Iterable[str]) -> dict[str, StoredEvent]:
        """The events among ``event_ids`` that we hold (cache first, then DB)."""
        out: dict[str, StoredEvent] = {}
        missing: list[str] = []
        for event_id in event_ids:
            cached = self._event_lru.get(event_id)
            if cached is not None:
                self._event_lru.move_to_end(event_id)
                out[event_id] = cached
            else:
                missing.append(event_id)
        if missing:
            changes = self._event_changes
            async with self._db.read() as conn:
                loaded = await self._events.get_events(conn, missing)
            # A redaction or purge applied while we read may be missing from
            # what we read: then keep it out of the LRU (it is still returned).
            if changes == self._event_changes:
                for stored in loaded.values():
                    self.put_event(stored)
            out.update(loaded)
        return out

    async def event(self, event_id: str) -> StoredEvent | None:
        return (await self.events([event_id])).get(event_id)

    async def pdus(self, event_ids: Iterable[str]) -> dict[str, PDU]:
        return {k: v.pdu for k, v in (await self.events(event_ids)).items()}

    async def state_pdus(
        self, state: Mapping[StateKey, str], keys: Iterable[StateKey]
    ) -> dict[StateKey, PDU]:
        """The events of ``state`` at ``keys`` (keys absent from ``state`` are skipped)."""
        wanted = {key: state[key] for key in keys if key in state}
        found = await self.pdus(wanted.values())
        return {key: found[eid] for key, eid in wanted.items() if eid in found}

    def put_event(self, stored: StoredEvent) -> None:
        self._event_lru[stored.pdu.event_id] = stored
        self._event_lru.move_to_end(stored.pdu.event_id)
        while len(self._event_lru) > self._event_cache_size:
            self._event_lru.popitem(last=False)

    def forget_events(self, event_ids: Iterable[str]) -> None:
        """Drops purged events (message retention) from the LRU."""
        self._event_changes += 1
        for event_id in event_ids:
            self._event_lru.pop(event_id, None)

    def mark_redacted(self, event_id: str, redaction_id: str) -> None:
        self._event_changes += 1
        cached = self._event_lru.get(event_id)
        if cached is not None and cached.redacted_by is None:
            self._event_lru[event_id] = replace(cached, redacted_by=redaction_id)
