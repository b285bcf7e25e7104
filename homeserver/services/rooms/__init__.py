"""Rooms and messaging: the event write path and the room read endpoints.

Modules, by verb:

- ``build``: a new local event from a state map (auth events, build_pdu,
  size and auth checks; pure);
- ``persist``: the one atomic write of new events, then cache + notifier;
- ``cache``: per-room snapshot (version, current state ids, extremities,
  depth, state group) and an event LRU: no full state load per send;
- ``locks``: one writer per room;
- ``send``: message and state events, txn idempotency;
- ``create``: createRoom; ``membership``: join/invite/leave/kick/ban/…;
  ``redact``: redactions;
- ``read``, ``visibility``, ``filters``, ``format``: reading events, state,
  members, /messages and /context for clients.

``build_rooms`` wires them; the container exposes the result as
``services.rooms``.
"""

from __future__ import annotations

from dataclasses import dataclass

from signedjson.types import SigningKey

from homeserver.config.model import Config
from homeserver.core.tokens import StreamToken
from homeserver.notifier import Notifier
from homeserver.services.clock import Clock
from homeserver.services.ratelimit import RateLimiter
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.rooms.create import RoomCreator
from homeserver.services.rooms.locks import RoomLocks
from homeserver.services.rooms.membership import MembershipService
from homeserver.services.rooms.persist import EventPersister
from homeserver.services.rooms.read import RoomReader
from homeserver.services.rooms.redact import RedactionService
from homeserver.services.rooms.send import EventSender
from homeserver.services.rooms.visibility import HistoryVisibility
from homeserver.storage.db import Database
from homeserver.storage.stores.events import EventStore
from homeserver.storage.stores.profiles import ProfileStore
from homeserver.storage.stores.rooms import RoomStore
from homeserver.storage.stores.state import StateStore
from homeserver.storage.streams import IdGenerator, StreamIdGenerator


@dataclass(frozen=True, slots=True)
class Rooms:
    """The room services, as ``services.rooms``."""

    create: RoomCreator
    send: EventSender
    membership: MembershipService
    read: RoomReader
    redact: RedactionService
    persister: EventPersister
    cache: RoomCache
    locks: RoomLocks
    events_store: EventStore
    state_store: StateStore
    rooms_store: RoomStore


async def build_rooms(
    config: Config,
    db: Database,
    clock: Clock,
    signing_key: SigningKey,
    ratelimiter: RateLimiter,
    notifier: Notifier | None = None,
) -> tuple[Rooms, Notifier]:
    """Builds the room services; reads the stream positions once (startup)."""
    rooms_store, events_store, state_store = RoomStore(), EventStore(), StateStore()
    profiles = ProfileStore()
    async with db.read() as conn:
        event_stream = await StreamIdGenerator.load(conn, "events", "stream_ordering")
        state_group_ids = await IdGenerator.load(conn, "state_groups", "id")
    if notifier is None:
        notifier = Notifier(StreamToken(room=event_stream.current_position()))
    cache = RoomCache(db, rooms_store, events_store, state_store)
    locks = RoomLocks()
    persister = EventPersister(
        db,
        rooms_store,
        events_store,
        state_store,
        cache,
        notifier,
        event_stream,
        state_group_ids,
        clock,
    )
    server_name = config.server_name
    sender = EventSender(
        db, rooms_store, cache, locks, persister, ratelimiter, clock, server_name, signing_key
    )
    rooms = Rooms(
        create=RoomCreator(
            db,
            rooms_store,
            profiles,
            persister,
            clock,
            server_name,
            signing_key,
            config.rooms.default_room_version,
        ),
        send=sender,
        membership=MembershipService(
            db, rooms_store, events_store, state_store, profiles, cache, sender, server_name
        ),
        read=RoomReader(
            db,
            events_store,
            state_store,
            cache,
            HistoryVisibility(db, state_store, cache),
            clock,
        ),
        redact=RedactionService(cache, sender),
        persister=persister,
        cache=cache,
        locks=locks,
        events_store=events_store,
        state_store=state_store,
        rooms_store=rooms_store,
    )
    return rooms, notifier
