"""Delivering notifications to push gateways (push gateway API, ``/notify``).

``PushDelivery.enqueue`` is called for each user with pushers that a new
event notifies. A background task (``start``/``stop``, owned by the app's
cleanup context through ``Services.close``) fans the job out to one queue per
pusher, each drained by its own task, so a slow or failing gateway delays
only its own pushers.

Per notification and pusher:

- The request is ``POST {data.url}`` with ``{"notification": {...}}``:
  ``event_id``, ``room_id``, ``counts.unread``, ``prio`` and one device
  (``app_id``, ``pushkey``, ``pushkey_ts``, ``data`` without ``url``,
  ``tweaks`` from the actions); unless ``data.format`` is
  ``event_id_only``, also ``type``, ``sender``, ``sender_display_name``,
  ``room_name``, ``content`` and, for member events, ``user_is_target``.
- 2xx: delivered. Pushkeys in the answer's ``rejected`` are removed (their
  pushers deleted), as the spec requires.
- 5xx, 429, timeouts and connection errors: retried after a backoff that
  doubles from ``initial_backoff_s`` up to ``max_backoff_s``, at most
  ``max_attempts`` times; ``failing_since`` records the first failure.
- Other 4xx: the gateway refuses this notification; it is dropped.

Sleeping uses the injected ``Clock`` so tests run the backoff instantly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiohttp

from homeserver.core.push.rules import notify_and_highlight, tweaks_of
from homeserver.services.clock import Clock
from homeserver.services.push.counts import PushCounts
from homeserver.services.push.pushers import PusherService
from homeserver.services.rooms.cache import RoomCache
from homeserver.storage.db import Database
from homeserver.storage.stores.push import Pusher, PushStore

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PushJob:
    user_id: str
    room_id: str
    event_id: str
    stream_ordering: int
    actions: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 3600.0
    max_attempts: int = 10
    request_timeout_s: float = 10.0


class _Retry(Exception):
    """The attempt failed in a way worth retrying."""


class PushDelivery:
    """Sends notifications to the push gateways of HTTP pushers."""

    def __init__(
        self,
        db: Database,
        store: PushStore,
        pushers: PusherService,
        counts: PushCounts,
        cache: RoomCache,
        clock: Clock,
        policy: BackoffPolicy | None = None,
    ) -> None:
        self._db = db
        self._store = store
        self._pushers = pushers
        self._counts = counts
        self._cache = cache
        self._clock = clock
        self.policy = policy or BackoffPolicy()
        self._jobs: asyncio.Queue[PushJob] = asyncio.Queue()
        self._per_pusher: dict[int, deque[PushJob]] = {}
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Starts the delivery task (idempotent)."""
        if self._task is not None:
            return
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.policy.request_timeout_s)
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="push-delivery")

    async def stop(self) -> None:
        """Cancels delivery (pending notifications are dropped) and closes the HTTP session."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def enqueue(
        self,
        user_id: str,
        room_id: str,
        event_id: str,
        stream_ordering: int,
        actions: tuple[Any, ...],
    ) -> None:
        """Queues a notification for every pusher of ``user_id`` (a ``PushSink``)."""
        if self._task is None or user_id not in self._pushers.users_with_pushers:
            return
        self._jobs.put_nowait(PushJob(user_id, room_id, event_id, stream_ordering, actions))

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            while True:
                job = await self._jobs.get()
                try:
                    async with self._db.read() as conn:
                        pushers = await self._store.get_pushers(conn, job.user_id)
                except Exception:
                    logger.exception("could not load pushers of %s", job.user_id)
                    continue
                for pusher in pushers:
                    if pusher.kind != "http":
                        continue
                    queue = self._per_pusher.get(pusher.id)
                    if queue is None:
                        queue = self._per_pusher[pusher.id] = deque()
                        group.create_task(self._drain(pusher.id, queue))
                    queue.append(job)

    async def _drain(self, pusher_id: int, queue: deque[PushJob]) -> None:
        try:
            while queue:
                job = queue.popleft()
                try:
                    await self._deliver(pusher_id, job)
                except Exception:
                    logger.exception("push delivery failed for pusher %d", pusher_id)
        finally:
            # No await between the emptiness check and this: enqueuers either
            # saw the queue (and we drained their job) or will make a new one.
            self._per_pusher.pop(pusher_id, None)

    async def _deliver(self, pusher_id: int, job: PushJob) -> None:
        backoff = self.policy.initial_backoff_s
        for attempt in range(1, self.policy.max_attempts + 1):
            async with self._db.read() as conn:
                pusher = await self._store.get_pusher(conn, pusher_id)
            if pusher is None:
                return  # deleted meanwhile
            try:
                await self._send(pusher, job)
            except _Retry as e:
                logger.warning(
                    "push gateway for pusher %d failed (attempt %d): %s", pusher_id, attempt, e
                )
                async with self._db.write() as txn:
                    await self._store.record_delivery(
                        txn,
                        pusher_id,
                        stream_ordering=None,
                        failing_since=pusher.failing_since or self._clock.time_ms(),
                    )
                if attempt < self.policy.max_attempts:
                    await self._clock.sleep(backoff)
                    backoff = min(backoff * 2, self.policy.max_backoff_s)
                continue
            async with self._db.write() as txn:
                await self._store.record_delivery(
                    txn, pusher_id, stream_ordering=job.stream_ordering, failing_since=None
                )
            return
        logger.warning("giving up on %s for pusher %d", job.event_id, pusher_id)

    async def _send(self, pusher: Pusher, job: PushJob) -> None:
        session = self._session
        if session is None:
            raise _Retry("delivery is stopped")
        payload = await self.notification(pusher, job)
        url = pusher.data["url"]
        try:
            async with session.post(url, json=payload) as resp:
                if resp.status >= 500 or resp.status == 429:
                    raise _Retry(f"HTTP {resp.status}")
                if resp.status >= 300:
                    logger.warning("push gateway refused a notification: HTTP %d", resp.status)
                    return
                try:
                    answer = await resp.json(content_type=None)
                except ValueError:
                    answer = {}
        except (aiohttp.ClientError, TimeoutError) as e:
            raise _Retry(type(e).__name__) from e
        rejected = answer.get("rejected") if isinstance(answer, dict) else None
        if isinstance(rejected, list):
            keys = [k for k in rejected if isinstance(k, str)]
            if keys:
                logger.info("push gateway rejected %d pushkey(s); removing pushers", len(keys))
                await self._pushers.remove_rejected(pusher, keys)

    async def notification(self, pusher: Pusher, job: PushJob) -> JsonDict:
        """The ``/notify`` request body for one pusher."""
        data = {k: v for k, v in pusher.data.items() if k != "url"}
        tweaks = tweaks_of(job.actions)
        device: JsonDict = {
            "app_id": pusher.app_id,
            "pushkey": pusher.pushkey,
            "pushkey_ts": pusher.pushkey_ts,
            "data": data,
            "tweaks": tweaks,
        }
        unread = await self._counts.total_unread(pusher.user_id)
        # Spec: counts whose value is zero should be omitted (we don't track
        # missed calls, so missed_calls is never sent).
        counts = {"unread": unread} if unread else {}
        stored = await self._cache.event(job.event_id)
        _, highlight = notify_and_highlight(job.actions)
        encrypted = stored is not None and stored.pdu.type == "m.room.encrypted"
        # Low priority unless the user is alerted (sound/highlight) or we
        # can't tell because the event is encrypted.
        prio = "high" if (highlight or "sound" in tweaks or encrypted) else "low"
        notification: JsonDict = {
            "event_id": job.event_id,
            "room_id": job.room_id,
            "counts": counts,
            "prio": prio,
            "devices": [device],
        }
        if data.get("format") == "event_id_only" or stored is None:
            return {"notification": notification}
        pdu = stored.pdu
        notification["type"] = pdu.type
        notification["sender"] = pdu.sender
        if stored.redacted_by is None:
            notification["content"] = pdu.content
        if pdu.type == "m.room.member":
            notification["user_is_target"] = pdu.state_key == pusher.user_id
        snapshot = await self._cache.room(job.room_id)
        if snapshot is not None:
            state = await self._cache.state_pdus(
                snapshot.state, [("m.room.name", ""), ("m.room.member", pdu.sender)]
            )
            name_event = state.get(("m.room.name", ""))
            if name_event is not None and isinstance(name_event.content.get("name"), str):
                notification["room_name"] = name_event.content["name"]
            sender_member = state.get(("m.room.member", pdu.sender))
            if sender_member is not None:
                display = sender_member.content.get("displayname")
                if isinstance(display, str) and display:
                    notification["sender_display_name"] = display
        return {"notification": notification}
