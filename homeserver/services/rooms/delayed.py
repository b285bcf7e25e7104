"""Delayed events (MSC4140): events the server sends for a user later.

MatrixRTC clients (Element Call) schedule a "leave" ``m.call.member`` state
event with a short delay and keep restarting its timer while they are in the
call; if the client vanishes, the server sends the leave.

- Scheduling (``schedule``) stores the event; nothing is checked against the
  room's power levels until it is sent (the MSC evaluates auth at send time).
- ``run`` is the background task (owned by the app's lifecycle through
  ``start``/``stop``): it sleeps until the soonest send time, sends what is
  due through the normal send path, and re-reads the table on every wake-up,
  so events scheduled before a restart fire after it. Times come from the
  injected clock; ``poke`` wakes the loop early (tests move a fake clock,
  then poke).
- A failed send cancels the event and records the error (the MSC: no retry).
- A state event set by *another* user cancels that user's pending delayed
  state event for the same (type, state_key): the delayed event would
  otherwise overwrite newer state. The owner's own state change does not,
  because MatrixRTC clients schedule the leave *before* sending the join.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from homeserver.config.model import DelayedEventsConfig
from homeserver.core.errors import LimitExceeded, MatrixError, NotFound
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.services.rooms.persist import TxnKey
from homeserver.services.rooms.send import EventSender
from homeserver.storage.db import Database
from homeserver.storage.stores.delayed_events import (
    CANCELLED,
    SCHEDULED,
    SENT,
    DelayedEvent,
    DelayedEventStore,
)
from homeserver.storage.stores.events import StoredEvent

logger = logging.getLogger(__name__)

Action = Literal["send", "cancel", "restart"]
ACTIONS: tuple[Action, ...] = ("send", "cancel", "restart")

#: The loop re-checks the table at least this often (seconds), so a clock
#: jump or a missed poke delays an event by at most this much.
_MAX_SLEEP_S = 30.0


class MaxDelayExceeded(MatrixError):
    """400 M_MAX_DELAY_EXCEEDED with the allowed maximum (MSC4140)."""

    def __init__(self, max_delay_ms: int) -> None:
        super().__init__("The requested delay exceeds the allowed maximum", status=400)
        self.max_delay_ms = max_delay_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "errcode": "M_MAX_DELAY_EXCEEDED",
            "error": self.message,
            "max_delay": self.max_delay_ms,
        }


@dataclass(frozen=True, slots=True)
class DelayRequest:
    room_id: str
    event_type: str
    #: None for a message event
    state_key: str | None
    content: dict[str, Any]
    delay_ms: int


def describe(event: DelayedEvent) -> dict[str, Any]:
    """The MSC4140 JSON description of a delayed event."""
    body: dict[str, Any] = {
        "delay_id": event.delay_id,
        "room_id": event.room_id,
        "type": event.event_type,
        "delay": event.delay_ms,
        "running_since": event.running_since,
        "content": event.content,
    }
    if event.state_key is not None:
        body["state_key"] = event.state_key
    if event.event_id is not None:
        body["event_id"] = event.event_id
    if event.error is not None:
        body["error"] = event.error
    return body


class DelayedEvents:
    """Schedules, manages and sends delayed events."""

    def __init__(
        self,
        db: Database,
        store: DelayedEventStore,
        sender: EventSender,
        clock: Clock,
        config: DelayedEventsConfig,
    ) -> None:
        self._db = db
        self._store = store
        self._sender = sender
        self._clock = clock
        self._config = config
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Starts the background sender (it first sends whatever is overdue)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="delayed-events")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def poke(self) -> None:
        """Wakes the background sender to re-read the schedule now."""
        self._wake.set()

    async def run(self) -> None:
        """Sends due events forever; sleeps until the soonest one (or a poke)."""
        while True:
            self._wake.clear()
            try:
                await self.send_due()
                async with self._db.read() as conn:
                    next_ts = await self._store.next_send_ts(conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("delayed events: sending due events failed")
                next_ts = None
            wait = _MAX_SLEEP_S
            if next_ts is not None:
                wait = min(wait, max(0.0, (next_ts - self._clock.time_ms()) / 1000))
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def send_due(self) -> int:
        """Sends every scheduled event whose time has come; returns how many were tried."""
        tried = 0
        while True:
            async with self._db.read() as conn:
                batch = await self._store.due(conn, self._clock.time_ms())
            if not batch:
                return tried
            for event in batch:
                tried += 1
                # A failure is recorded on the row by _send.
                with contextlib.suppress(MatrixError):
                    await self._send(event)

    # --- client operations --------------------------------------------------

    async def schedule(self, requester: Requester, request: DelayRequest) -> str:
        """Stores a delayed event; returns its ``delay_id``.

        Raises:
            MaxDelayExceeded: the delay is above the configured maximum.
            LimitExceeded: the user already has the most delayed events allowed.
        """
        if request.delay_ms > self._config.max_delay_ms:
            raise MaxDelayExceeded(self._config.max_delay_ms)
        now = self._clock.time_ms()
        delay_id = "syd_" + secrets.token_urlsafe(18)
        async with self._db.write() as txn:
            count, soonest = await self._store.count_scheduled(txn, requester.user_id)
            if count >= self._config.max_per_user:
                retry_ms = max(0, (soonest or now) - now)
                raise LimitExceeded(
                    retry_ms, "The maximum number of delayed events has been reached"
                )
            await self._store.add(
                txn,
                DelayedEvent(
                    delay_id=delay_id,
                    user_id=requester.user_id,
                    device_id=requester.device_id,
                    room_id=request.room_id,
                    event_type=request.event_type,
                    state_key=request.state_key,
                    content=request.content,
                    delay_ms=request.delay_ms,
                    running_since=now,
                    send_ts=now + request.delay_ms,
                    status=SCHEDULED,
                    event_id=None,
                    error=None,
                ),
            )
        self.poke()
        return delay_id

    async def scheduled(self, user_id: str) -> list[dict[str, Any]]:
        """The user's scheduled delayed events, soonest first, as MSC4140 JSON."""
        async with self._db.read() as conn:
            events = await self._store.scheduled_for_user(conn, user_id)
        return [describe(e) for e in events]

    async def act(self, delay_id: str, action: Action, requester: Requester | None) -> None:
        """Restarts, cancels or sends a delayed event now.

        Args:
            delay_id: the event; knowing it is enough (MSC4140 lets a call
                service manage a user's event with it) unless ``requester``
                is given, in which case the event must be theirs.
            action: what to do.
            requester: the authenticated caller, or None.

        Raises:
            NotFound: no such delayed event (or not the requester's).
            MatrixError: 409 when it is already finalised with the opposite
                outcome; the send error when ``send`` fails.
        """
        async with self._db.read() as conn:
            event = await self._store.get(conn, delay_id)
        if event is None or (requester is not None and event.user_id != requester.user_id):
            raise NotFound("No such delayed event")
        if event.status != SCHEDULED:
            # Retries of a request that already took effect succeed (MSC4140).
            if (action == "send" and event.status == SENT) or (
                action == "cancel" and event.status == CANCELLED
            ):
                return
            raise MatrixError(f"The delayed event is already {event.status}", status=409)
        if action == "restart":
            async with self._db.write() as txn:
                ok = await self._store.restart(txn, delay_id, self._clock.time_ms())
            self.poke()
        elif action == "cancel":
            async with self._db.write() as txn:
                ok = await self._store.finalise(txn, delay_id, CANCELLED, self._clock.time_ms())
        else:
            await self._send(event)
            return
        if not ok:  # finalised between our read and write: answer as if we had come later
            await self.act(delay_id, action, requester)

    # --- sending ----------------------------------------------------------------

    async def _send(self, event: DelayedEvent) -> None:
        who = Requester(user_id=event.user_id, device_id=event.device_id)
        try:
            if event.state_key is None:
                # The delay id doubles as the txn id: a send retried after a
                # crash between persist and finalise finds the same event.
                txn = TxnKey(
                    event.user_id,
                    event.device_id or "",
                    f"/delayed_events/{event.delay_id}",
                    event.delay_id,
                )
                event_id = await self._sender.send_message(
                    who, event.room_id, event.event_type, event.content, txn
                )
            else:
                event_id = await self._sender.send_state(
                    who, event.room_id, event.event_type, event.state_key, event.content
                )
        except MatrixError as e:
            logger.info("delayed event %s could not be sent: %s", event.delay_id, e.code)
            async with self._db.write() as txn_:
                await self._store.finalise(
                    txn_, event.delay_id, CANCELLED, self._clock.time_ms(), error=e.to_json()
                )
            raise
        async with self._db.write() as txn_:
            await self._store.finalise(
                txn_, event.delay_id, SENT, self._clock.time_ms(), event_id=event_id
            )

    async def on_persisted(self, stored_events: Sequence[StoredEvent]) -> None:
        """Cancels other users' delayed state events that newer state overrides."""
        for stored in stored_events:
            pdu = stored.pdu
            if pdu.state_key is None or stored.rejected_reason is not None:
                continue
            async with self._db.read() as conn:
                pending = await self._store.has_scheduled_state(
                    conn, pdu.room_id, pdu.type, pdu.state_key, pdu.sender
                )
            if not pending:
                continue
            async with self._db.write() as txn:
                cancelled = await self._store.cancel_state(
                    txn, pdu.room_id, pdu.type, pdu.state_key, pdu.sender, self._clock.time_ms()
                )
            if cancelled:
                logger.debug("cancelled %d delayed state events in %s", cancelled, pdu.room_id)
