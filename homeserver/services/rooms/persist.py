"""Persisting new local events atomically.

``EventPersister.persist`` writes a batch of events that extend one room's
current state linearly (each event's ``prev_events`` is the previous one;
createRoom sends its whole batch at once). In ONE write transaction it:

1. allocates each event's stream ordering;
2. writes a state group per state event (one delta row on the previous
   group, or a snapshot when due); messages share the current group;
3. inserts the event rows (with membership and relation rows);
4. replaces current state entries and the forward extremities (the last
   event of the batch);
5. records the client txn id and marks redacted events;
6. runs the caller's extra writes (e.g. a new room alias) and the
   ``in_transaction`` hooks (push actions, the search index): one commit
   per send, which is what keeps sends cheap on PostgreSQL.

Only after the commit does it update the room cache and the event LRU, run
the ``after_commit`` hooks and announce the events; the stream position
and the notifier's news of the events then move together (see
``storage/streams.py``). A failure anywhere before the commit leaves the
database, the cache and the visible stream position as they were (an
allocated position becomes a gap).
Callers hold the room's lock (``RoomLocks``) around build + persist.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.core.events import PDU, StateKey
from homeserver.notifier import Notifier
from homeserver.services.clock import Clock
from homeserver.services.rooms.cache import RoomCache, RoomSnapshot
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.events import EventStore, StoredEvent
from homeserver.storage.stores.rooms import RoomStore
from homeserver.storage.stores.state import StateStore
from homeserver.storage.streams import IdGenerator, StreamIdGenerator

ExtraWrites = Callable[[Connection], Awaitable[None]]
#: Writes derived from the new events, made in the events' own transaction.
InTransaction = Callable[[Connection, Sequence[StoredEvent]], Awaitable[None]]
#: Runs after a batch commits, before the notifier wakes /sync (e.g. push
#: rule evaluation, so a sync woken by the event sees its counts).
AfterCommit = Callable[[Sequence[StoredEvent]], Awaitable[None]]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TxnKey:
    """Scope of a client transaction id: one device and one request path.

    The spec scopes ``txnId`` to the device *and* the endpoint
    (client-server API, "Transaction identifiers").
    """

    user_id: str
    #: "" when the access token has no device (appservices)
    device_id: str
    path: str
    txn_id: str


@dataclass(frozen=True, slots=True)
class NewEvent:
    pdu: PDU
    txn: TxnKey | None = None
    #: for an allowed redaction: also mark its target as redacted
    apply_redaction: bool = False


@dataclass(frozen=True, slots=True)
class NewRoom:
    room_id: str
    room_version: str
    creator: str
    is_public: bool = False


def pdu_json(pdu: PDU) -> str:
    """The canonical JSON text stored for a PDU."""
    return encode_canonical_json(pdu.data).decode("utf-8")


class EventPersister:
    """Writes new local events; the single place that changes room state."""

    def __init__(
        self,
        db: Database,
        rooms: RoomStore,
        events: EventStore,
        state: StateStore,
        cache: RoomCache,
        notifier: Notifier,
        event_stream: StreamIdGenerator,
        state_group_ids: IdGenerator,
        clock: Clock,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._events = events
        self._state = state
        self._cache = cache
        self._notifier = notifier
        self._stream = event_stream
        self._group_ids = state_group_ids
        self._clock = clock
        #: hooks run after every commit; a failing hook is logged, never
        #: reported to the sender (the event is already persisted)
        self.after_commit: list[AfterCommit] = []
        #: hooks run inside the write transaction, after the events are
        #: written; a failing hook rolls the whole batch back
        self.in_transaction: list[InTransaction] = []
        notifier.follow("room", event_stream)

    @property
    def event_stream(self) -> StreamIdGenerator:
        return self._stream

    async def persist(
        self,
        snapshot: RoomSnapshot | None,
        batch: Sequence[NewEvent],
        *,
        new_room: NewRoom | None = None,
        extra_writes: ExtraWrites | None = None,
    ) -> list[StoredEvent]:
        """Persists ``batch`` on top of ``snapshot`` (None for a new room).

        Args:
            snapshot: the room's current snapshot the batch was built on.
            batch: the events, in order; each follows the previous one.
            new_room: the room row to create with the batch (createRoom).
            extra_writes: more writes for the same transaction.

        Returns:
            The stored events, with their stream orderings and state groups.
        """
        if not batch:
            return []
        room_id = batch[0].pdu.room_id
        now = self._clock.time_ms()
        # Messages leave the state maps alone, so only copy them (copy on
        # write; the cached snapshot must not change before the commit) when
        # the batch holds a state event: sending stays O(1) in room size.
        has_state = any(item.pdu.state_key is not None for item in batch)
        state: dict[StateKey, str] = {}
        memberships: dict[str, str] = {}
        if snapshot is not None:
            state = dict(snapshot.state) if has_state else snapshot.state
            memberships = dict(snapshot.memberships) if has_state else snapshot.memberships
        group = snapshot.state_group if snapshot is not None else None
        delta_depth = snapshot.delta_depth if snapshot is not None else 0
        depth = snapshot.depth if snapshot is not None else 0
        stored_events: list[StoredEvent] = []
        current_changes: dict[StateKey, tuple[str, str | None] | None] = {}

        with self._stream.allocating() as positions:
            async with self._db.write() as txn:
                if new_room is not None:
                    await self._rooms.insert_room(
                        txn,
                        new_room.room_id,
                        new_room.room_version,
                        new_room.creator,
                        now,
                        is_public=new_room.is_public,
                    )
                for item in batch:
                    pdu = item.pdu
                    position = positions.next()
                    if pdu.state_key is not None:
                        key = pdu.state_tuple
                        state[key] = pdu.event_id
                        new_group = self._group_ids.next()
                        delta_depth = await self._state.store_group(
                            txn,
                            group_id=new_group,
                            room_id=room_id,
                            prev_group=group,
                            prev_delta_depth=delta_depth,
                            delta={key: pdu.event_id},
                            full_state=state,
                        )
                        group = new_group
                        membership = pdu.membership if pdu.type == "m.room.member" else None
                        current_changes[key] = (pdu.event_id, membership)
                        if membership is not None:
                            memberships[pdu.state_key] = membership
                    stored = StoredEvent(
                        pdu=pdu,
                        stream_ordering=position,
                        state_group=group,
                        txn_device_id=item.txn.device_id if item.txn else None,
                        txn_id=item.txn.txn_id if item.txn else None,
                    )
                    await self._events.insert(txn, stored, json_text=pdu_json(pdu), received_ts=now)
                    if item.txn is not None:
                        await self._rooms.record_txn(
                            txn,
                            item.txn.user_id,
                            item.txn.device_id,
                            item.txn.path,
                            pdu.event_id,
                            now,
                        )
                    if item.apply_redaction and pdu.redacts is not None:
                        await self._events.mark_redacted(txn, pdu.redacts, pdu.event_id)
                    depth = max(depth, pdu.depth)
                    stored_events.append(stored)
                await self._state.update_current_state(txn, room_id, current_changes)
                last = batch[-1].pdu.event_id
                await self._state.set_forward_extremities(txn, room_id, [last])
                if extra_writes is not None:
                    await extra_writes(txn)
                for in_txn in self.in_transaction:
                    await in_txn(txn, stored_events)

            # Committed. The positions stay unfinished (invisible to readers)
            # until the caches hold the events and the after-commit hooks
            # (push deliveries, appservice wake-ups) have run; then the block
            # ends, and the positions and the notifier's news of them become
            # visible in one step, so a token never passes an event that the
            # response building it did not consider.
            room_version = batch[0].pdu.room_version
            self._cache.set_room(
                RoomSnapshot(
                    room_id=room_id,
                    room_version=room_version,
                    state=state,
                    extremities=[last],
                    depth=depth,
                    state_group=group,
                    delta_depth=delta_depth,
                    memberships=memberships,
                )
            )
            for stored in stored_events:
                self._cache.put_event(stored)
            for item in batch:
                if item.apply_redaction and item.pdu.redacts is not None:
                    self._cache.mark_redacted(item.pdu.redacts, item.pdu.event_id)
            for hook in self.after_commit:
                try:
                    await hook(stored_events)
                except Exception:
                    logger.exception("after-commit hook %r failed for %s", hook, room_id)
            for stored in stored_events:
                positions.announce(
                    rooms=(room_id,),
                    users=Notifier.event_keys(stored.pdu),
                    position=stored.stream_ordering,
                )
        return stored_events
