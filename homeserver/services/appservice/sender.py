"""Pushing events to application services (``PUT /_matrix/app/v1/transactions/{txnId}``).

Delivery is driven by positions, not by an in-memory queue, so nothing is
lost when either side restarts or an appservice is down:

- ``appservice_positions.event_position`` says how far the events stream
  has been read for the appservice (inclusive). A new appservice starts at
  the stream's current position (it does not get old history).
- One task per appservice (with a URL) loops: if a transaction is pending in
  ``appservice_txns`` it is sent until the appservice answers 2xx (retries
  back off exponentially, from ``initial_backoff_s`` doubling up to
  ``max_backoff_s``, sleeping on the injected clock), then deleted. Only then
  is the next one built: the events after ``event_position`` up to the
  visible stream position (at most ``batch_size``), filtered by interest,
  written as a new transaction (next txn id) together with the new position
  in one database transaction.
- The rooms persister's after-commit hook only wakes the tasks.
- Ephemeral data (``receive_ephemeral``, MSC3202) comes from the
  ``ephemeral`` feed, which wakes the tasks too; it is added to the next
  transaction built (a transaction may carry only ephemeral data) and is
  persisted with it from then on, but what is pending in the feed is not.

So events reach the appservice in stream order, each transaction id is
used once per appservice and only for one body (a retry resends the same
body under the same id), at most one transaction per appservice is pending,
and the backlog of an appservice that is down is the events table itself:
bounded, persisted, resumed after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.services.appservice.client import AppserviceHttp, cancelling
from homeserver.services.appservice.ephemeral import EphemeralFeed
from homeserver.services.appservice.namespaces import AppService
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.rooms.read import RoomReader
from homeserver.storage.db import Database
from homeserver.storage.stores.appservice import AppserviceStore
from homeserver.storage.stores.events import StoredEvent
from homeserver.storage.streams import StreamIdGenerator

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]


class AppserviceSender:
    """One delivery task per appservice, fed by the events stream."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        appservices: Sequence[AppService],
        cache: RoomCache,
        reader: RoomReader,
        event_stream: StreamIdGenerator,
        http: AppserviceHttp,
    ) -> None:
        self._db = db
        self._clock = clock
        self._appservices = [a for a in appservices if a.registration.url is not None]
        self._all = list(appservices)
        self._cache = cache
        self._reader = reader
        self._stream = event_stream
        self._http = http
        self._store = AppserviceStore()
        self._wakeups: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: set when some appservice wants ephemeral data (see ``ephemeral``)
        self.ephemeral: EphemeralFeed | None = None
        self.batch_size = 100
        self.initial_backoff_s = 1.0
        self.max_backoff_s = 300.0
        self.request_timeout_s = 30.0

    async def start(self) -> None:
        """Starts new appservices' feeds at the current position; starts the tasks."""
        position = self._stream.current_position()
        async with self._db.write() as txn:
            for svc in self._all:
                await self._store.init_position(txn, svc.id, position)
        for svc in self._appservices:
            self._wakeups[svc.id] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._run(svc), name=f"appservice-{svc.id}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            # Asked again while it runs on: a cancellation can be lost in a
            # library call (see ``client.cancelling``), and stop must not hang.
            while not task.done():
                await asyncio.wait({task}, timeout=1.0)
                if not task.done():
                    task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def on_persisted(self, events: Sequence[StoredEvent]) -> None:
        """After-commit hook of the rooms persister: wakes every feed."""
        self.wake()

    def wake(self) -> None:
        for event in self._wakeups.values():
            event.set()

    async def pending_count(self, as_id: str) -> int:
        """How many transactions wait for the appservice (0 or 1)."""
        async with self._db.read() as conn:
            return await self._store.count_txns(conn, as_id)

    # --- the loop --------------------------------------------------------------

    async def _run(self, svc: AppService) -> None:
        wakeup = self._wakeups[svc.id]
        while True:
            wakeup.clear()
            try:
                progressed = await self._step(svc)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("appservice %s: delivery step failed", svc.id)
                await self._clock.sleep(self.initial_backoff_s)
                continue
            if not progressed:
                await wakeup.wait()

    async def _step(self, svc: AppService) -> bool:
        """Sends the pending transaction or builds the next; False when idle."""
        async with self._db.read() as conn:
            pending = await self._store.oldest_txn(conn, svc.id)
        if pending is not None:
            await self._send_until_acked(svc, pending.txn_id, pending.body)
            async with self._db.write() as txn:
                await self._store.delete_txn(txn, svc.id, pending.txn_id)
            return True
        return await self._build_next(svc)

    async def _build_next(self, svc: AppService) -> bool:
        async with self._db.read() as conn:
            position = await self._store.get_position(conn, svc.id)
            if position is None:
                return False
            up_to = self._stream.current_position()
            rows = await self._store.event_ids_after(
                conn, position.event_position, up_to, self.batch_size
            )
        extra: JsonDict = {}
        if self.ephemeral is not None and self.ephemeral.has_pending(svc.id):
            extra = await self.ephemeral.collect(svc)
        if not rows and not extra:
            return False
        events = await self._cache.events(event_id for _, event_id, _ in rows)
        interesting: list[StoredEvent] = []
        room_interest: dict[str, bool] = {}
        for _, event_id, _ in rows:
            stored = events.get(event_id)
            if stored is None or stored.rejected_reason is not None:
                continue
            if await self._interested(svc, stored, room_interest):
                interesting.append(stored)
        new_position = rows[-1][0] if rows else position.event_position
        txn_id = position.last_txn_id
        body_text: str | None = None
        if interesting or extra:
            who = Requester(user_id=svc.sender, device_id=None, appservice_id=svc.id)
            body: JsonDict = {"events": await self._reader.serialize(who, interesting)}
            body.update(extra)
            body_text = encode_canonical_json(body).decode("utf-8")
            txn_id += 1
        async with self._db.write() as txn:
            if body_text is not None:
                await self._store.add_txn(txn, svc.id, txn_id, body_text, self._clock.time_ms())
            await self._store.set_position(txn, svc.id, new_position, txn_id)
        return True

    async def _interested(
        self, svc: AppService, stored: StoredEvent, room_interest: dict[str, bool]
    ) -> bool:
        pdu = stored.pdu
        if svc.is_interested_in_user(pdu.sender):
            return True
        member = pdu.state_key if pdu.type == "m.room.member" else None
        if member is not None and svc.is_interested_in_user(member):
            return True
        cached = room_interest.get(pdu.room_id)
        if cached is None:
            cached = await self.interested_in_room(svc, pdu.room_id)
            room_interest[pdu.room_id] = cached
        return cached

    async def interested_in_room(self, svc: AppService, room_id: str) -> bool:
        """The room id, an alias or a current member is in ``svc``'s namespaces."""
        snapshot = await self._cache.room(room_id)
        members = list(snapshot.memberships) if snapshot is not None else []
        async with self._db.read() as conn:
            aliases = await self._store.room_aliases(conn, room_id)
        return svc.is_interested_in_room(room_id, aliases, members)

    async def _send_until_acked(self, svc: AppService, txn_id: int, body: str) -> None:
        backoff = self.initial_backoff_s
        while True:
            if await self._put(svc, txn_id, body):
                return
            await self._clock.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    async def _put(self, svc: AppService, txn_id: int, body: str) -> bool:
        url = f"{svc.registration.url}/_matrix/app/v1/transactions/{quote(str(txn_id))}"
        try:
            async with self._http.session.put(
                url,
                data=body.encode("utf-8"),
                headers={**self._http.headers(svc), "Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self.request_timeout_s),
            ) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return True
                logger.warning("appservice %s: txn %d got HTTP %d", svc.id, txn_id, resp.status)
                return False
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            if cancelling():
                raise asyncio.CancelledError from e
            logger.warning("appservice %s: txn %d failed: %s", svc.id, txn_id, e)
            return False
