"""Push notifications: push rules, unread counts, /notifications, pushers.

Modules, by verb:

- ``rules``: ``/pushrules`` semantics and the per-user compiled-rule cache;
- ``actions``: evaluating rules for each new event, storing notify rows;
- ``counts``: unread counts for ``/sync`` and ``GET /notifications``;
- ``pushers``: ``/pushers`` and ``/pushers/set``;
- ``delivery``: the background sender to push gateways.

``PushService`` ties them together as ``services.push``. Contracts with the
rest of the server:

- after an event commits and before ``/sync`` waiters are woken, the persist
  path awaits ``on_persisted(stored_events)`` (or ``on_new_event(pdu,
  stream_ordering)`` per event);
- ``/sync`` calls ``push_counts(user_id, room_id)`` for
  ``unread_notifications`` and ``thread_counts`` for threaded counts;
- receipts need no call: counts read the ``receipts`` table directly;
- logging out a device calls ``pushers.delete_for_device``;
- ``start()`` once the event loop runs, ``stop()`` at shutdown.
"""

from __future__ import annotations

from collections.abc import Sequence

from homeserver.core.events import PDU
from homeserver.notifier import Notifier
from homeserver.services.clock import Clock
from homeserver.services.push.actions import PushActions
from homeserver.services.push.counts import PushCounts
from homeserver.services.push.delivery import BackoffPolicy, PushDelivery
from homeserver.services.push.pushers import PusherService
from homeserver.services.push.rules import PushRulesService
from homeserver.services.rooms.cache import RoomCache
from homeserver.storage.db import Database
from homeserver.storage.stores.account_data import AccountDataStore
from homeserver.storage.stores.events import StoredEvent
from homeserver.storage.stores.push import PushStore


class PushService:
    """The push services, as ``services.push``."""

    def __init__(
        self,
        db: Database,
        cache: RoomCache,
        clock: Clock,
        server_name: str,
        notifier: Notifier | None = None,
        policy: BackoffPolicy | None = None,
    ) -> None:
        store = PushStore(db.dialect)
        self.rules = PushRulesService(db, store, AccountDataStore(), notifier)
        self.counts = PushCounts(db, store, cache, clock)
        self.pushers = PusherService(db, store, clock)
        self.actions = PushActions(db, store, self.rules, cache, clock, server_name)
        self.delivery = PushDelivery(db, store, self.pushers, self.counts, cache, clock, policy)
        self.actions.add_sink(self.delivery.enqueue)
        self.actions.pusher_users = lambda: self.pushers.users_with_pushers

    async def start(self) -> None:
        """Loads who has pushers and starts gateway delivery."""
        await self.pushers.load()
        await self.delivery.start()

    async def stop(self) -> None:
        await self.delivery.stop()

    async def on_new_event(self, pdu: PDU, stream_ordering: int) -> None:
        """Evaluates push rules for one committed event (never raises)."""
        await self.actions.on_new_event(pdu, stream_ordering)

    async def on_persisted(self, stored_events: Sequence[StoredEvent]) -> None:
        """Evaluates push rules for a committed batch, in order (never raises)."""
        await self.actions.on_persisted(stored_events)

    async def push_counts(self, user_id: str, room_id: str) -> tuple[int, int]:
        """``(notification_count, highlight_count)`` of a room for ``/sync``."""
        return await self.counts.push_counts(user_id, room_id)

    async def push_counts_many(
        self, user_id: str, room_ids: Sequence[str], upto: int | None = None
    ) -> dict[str, tuple[int, int]]:
        """``push_counts`` of many rooms at once (``/sync`` over all joined
        rooms), up to room stream position ``upto`` when given."""
        return await self.counts.push_counts_many(user_id, room_ids, upto)

    async def thread_counts_many(
        self, user_id: str, room_ids: Sequence[str], upto: int | None = None
    ) -> dict[str, dict[str, tuple[int, int]]]:
        """``thread_counts`` of many rooms at once; rooms with nothing unread left out."""
        return await self.counts.thread_counts_many(user_id, room_ids, upto)

    async def thread_counts(self, user_id: str, room_id: str) -> dict[str, tuple[int, int]]:
        """Per-thread counts (``main`` = the main timeline) for threaded ``/sync``."""
        return await self.counts.thread_counts(user_id, room_id)
