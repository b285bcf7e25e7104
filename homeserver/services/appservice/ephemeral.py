"""Ephemeral data for application services (``receive_ephemeral``, MSC3202).

The notifier calls :meth:`EphemeralFeed.on_poke` for every change it
announces. For each appservice that asked for them, the feed remembers which
rooms / users changed (nothing else: the data is read when the next
transaction is built) and wakes the sender. :meth:`EphemeralFeed.collect`
then turns the pending changes into the extra fields of a transaction body:

- ``ephemeral`` (``receive_ephemeral: true``): ``m.typing`` (the room's
  current typers) and ``m.receipt`` (public receipts changed since the last
  transaction) with their ``room_id``, for rooms the appservice is
  interested in; ``m.presence`` for users in its namespace.
- ``org.matrix.msc3202.device_lists`` (``org.matrix.msc3202: true``): users
  sharing a room with the appservice's users whose devices changed.
- ``de.sorunome.msc2409.to_device`` (MSC3202 too): to-device messages for
  the appservice's users, each with ``to_user_id`` and ``to_device_id``.
- ``org.matrix.msc3202.device_one_time_keys_count`` and
  ``org.matrix.msc3202.device_unused_fallback_key_types`` (MSC3202): the
  current counts of the appservice's users' devices whose one-time or
  fallback keys changed (uploaded or claimed).

This is best effort: the pending set and the positions read from live in
memory only, so what was pending when the server stops is not delivered
after a restart (each appservice starts again at the streams' current
positions). Events (the ``events`` array) are not affected by this.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeserver.services.appservice.namespaces import AppService
from homeserver.services.sync.ephemeral import receipt_events, typing_event
from homeserver.services.sync.presence import PresenceService
from homeserver.services.sync.streams import SyncStreams
from homeserver.services.sync.typing import TypingService
from homeserver.storage.db import Database
from homeserver.storage.stores.appservice import AppserviceStore
from homeserver.storage.stores.presence import PresenceStore
from homeserver.storage.stores.receipts import ReceiptStore

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: Transaction body fields (MSC2409 to-device and MSC3202 device lists).
TO_DEVICE_FIELD = "de.sorunome.msc2409.to_device"
DEVICE_LISTS_FIELD = "org.matrix.msc3202.device_lists"
OTK_COUNT_FIELD = "org.matrix.msc3202.device_one_time_keys_count"
FALLBACK_TYPES_FIELD = "org.matrix.msc3202.device_unused_fallback_key_types"

#: ``(appservice, room_id) → interested?``
RoomInterest = Callable[[AppService, str], Awaitable[bool]]
#: ``(user_id, device_id) → counts / types`` (the E2E keys service's readers)
OtkCounts = Callable[[str, str], Awaitable[dict[str, int]]]
FallbackTypes = Callable[[str, str], Awaitable[list[str]]]


async def _no_counts(user_id: str, device_id: str) -> dict[str, int]:
    return {}


async def _no_types(user_id: str, device_id: str) -> list[str]:
    return []


@dataclass(slots=True)
class _Pending:
    typing_rooms: set[str] = field(default_factory=set)
    receipt_rooms: set[str] = field(default_factory=set)
    presence_users: set[str] = field(default_factory=set)
    to_device_users: set[str] = field(default_factory=set)
    #: changed user → the rooms they are in (at the change)
    device_list_users: dict[str, set[str]] = field(default_factory=dict)
    #: (user, device) whose one-time / fallback keys changed
    key_devices: set[tuple[str, str]] = field(default_factory=set)
    #: last position read of each stream
    receipts_at: int = 0
    presence_at: int = 0
    to_device_at: int = 0

    def empty(self) -> bool:
        return not (
            self.typing_rooms
            or self.receipt_rooms
            or self.presence_users
            or self.to_device_users
            or self.device_list_users
            or self.key_devices
        )


class EphemeralFeed:
    """Pending ephemeral changes per appservice; see the module docstring."""

    def __init__(
        self,
        db: Database,
        appservices: Sequence[AppService],
        typing: TypingService,
        presence: PresenceService,
        streams: SyncStreams,
        room_interest: RoomInterest,
        wake: Callable[[], None],
    ) -> None:
        self._db = db
        self._typing = typing
        self._presence = presence
        self._streams = streams
        self._room_interest = room_interest
        self._wake = wake
        self._receipts = ReceiptStore()
        self._presence_store = PresenceStore()
        self._store = AppserviceStore()
        #: set by the E2E keys wiring (MSC3202 key counts)
        self.otk_counts: OtkCounts = _no_counts
        self.fallback_key_types: FallbackTypes = _no_types
        self._services = [
            a
            for a in appservices
            if a.registration.url is not None
            and (a.registration.receive_ephemeral or a.registration.msc3202)
        ]
        self._pending: dict[str, _Pending] = {
            a.id: _Pending(
                receipts_at=streams.receipts.current_position(),
                presence_at=streams.presence.current_position(),
                to_device_at=streams.to_device.current_position(),
            )
            for a in self._services
        }

    def has_pending(self, as_id: str) -> bool:
        pending = self._pending.get(as_id)
        return pending is not None and not pending.empty()

    def on_poke(
        self, stream: str, position: int, rooms: Collection[str], users: Collection[str]
    ) -> None:
        """Notifier listener: records what changed for each appservice."""
        woken = False
        for svc in self._services:
            pending = self._pending[svc.id]
            reg = svc.registration
            if reg.receive_ephemeral:
                if stream == "typing":
                    pending.typing_rooms.update(rooms)
                    woken = True
                elif stream == "receipts":
                    pending.receipt_rooms.update(rooms)
                    woken = True
                elif stream == "presence":
                    mine = [u for u in users if svc.is_interested_in_user(u)]
                    pending.presence_users.update(mine)
                    woken = woken or bool(mine)
            if reg.msc3202:
                if stream == "to_device":
                    mine = [u for u in users if svc.is_interested_in_user(u)]
                    pending.to_device_users.update(mine)
                    woken = woken or bool(mine)
                elif stream == "device_lists":
                    for user_id in users:
                        pending.device_list_users.setdefault(user_id, set()).update(rooms)
                    woken = woken or bool(users)
        if woken:
            self._wake()

    def on_key_counts(self, user_id: str, device_id: str) -> None:
        """E2E keys listener: a device's one-time / fallback keys changed."""
        woken = False
        for svc in self._services:
            if svc.registration.msc3202 and svc.is_interested_in_user(user_id):
                self._pending[svc.id].key_devices.add((user_id, device_id))
                woken = True
        if woken:
            self._wake()

    async def collect(self, svc: AppService) -> JsonDict:
        """The extra transaction fields for ``svc`` (empty when nothing is due);
        clears what it took."""
        pending = self._pending.get(svc.id)
        if pending is None or pending.empty():
            return {}
        out: JsonDict = {}
        ephemeral: list[JsonDict] = []
        typing_rooms, pending.typing_rooms = pending.typing_rooms, set()
        for room_id in sorted(typing_rooms):
            if await self._room_interest(svc, room_id):
                ephemeral.append(
                    {**typing_event(self._typing.typing_users(room_id)), "room_id": room_id}
                )
        ephemeral.extend(await self._receipt_events(svc, pending))
        ephemeral.extend(await self._presence_events(pending))
        if ephemeral:
            out["ephemeral"] = ephemeral
        to_device = await self._to_device(pending)
        if to_device:
            out[TO_DEVICE_FIELD] = to_device
        changed = await self._device_lists(svc, pending)
        if changed:
            out[DEVICE_LISTS_FIELD] = {"changed": changed, "left": []}
        devices, pending.key_devices = pending.key_devices, set()
        if devices:
            counts: dict[str, dict[str, dict[str, int]]] = {}
            types: dict[str, dict[str, list[str]]] = {}
            for user_id, device_id in sorted(devices):
                counts.setdefault(user_id, {})[device_id] = await self.otk_counts(
                    user_id, device_id
                )
                types.setdefault(user_id, {})[device_id] = await self.fallback_key_types(
                    user_id, device_id
                )
            out[OTK_COUNT_FIELD] = counts
            out[FALLBACK_TYPES_FIELD] = types
        return out

    async def _receipt_events(self, svc: AppService, pending: _Pending) -> list[JsonDict]:
        rooms, pending.receipt_rooms = pending.receipt_rooms, set()
        upto = self._streams.receipts.current_position()
        since, pending.receipts_at = pending.receipts_at, upto
        wanted = [r for r in sorted(rooms) if await self._room_interest(svc, r)]
        if not wanted:
            return []
        async with self._db.read() as conn:
            rows = await self._receipts.changes_in_rooms(conn, wanted, since=since, upto=upto)
        # No viewer: private receipts are never sent to appservices.
        by_room = receipt_events(rows, viewer="")
        return [{**event, "room_id": room_id} for room_id, event in by_room.items()]

    async def _presence_events(self, pending: _Pending) -> list[JsonDict]:
        users, pending.presence_users = pending.presence_users, set()
        upto = self._streams.presence.current_position()
        since, pending.presence_at = pending.presence_at, upto
        if not users:
            return []
        async with self._db.read() as conn:
            rows = await self._presence_store.changes_for_users(
                conn, sorted(users), since=since, upto=upto
            )
        return [
            {"type": "m.presence", "sender": r.user_id, "content": self._presence.to_content(r)}
            for r in rows
        ]

    async def _to_device(self, pending: _Pending) -> list[JsonDict]:
        users, pending.to_device_users = pending.to_device_users, set()
        upto = self._streams.to_device.current_position()
        since, pending.to_device_at = pending.to_device_at, upto
        if not users:
            return []
        async with self._db.read() as conn:
            rows = await self._store.to_device_messages(conn, sorted(users), since=since, upto=upto)
        return [
            {**message, "to_user_id": user_id, "to_device_id": device_id}
            for user_id, device_id, message in rows
        ]

    async def _device_lists(self, svc: AppService, pending: _Pending) -> list[str]:
        users, pending.device_list_users = pending.device_list_users, {}
        changed: list[str] = []
        for user_id, rooms in sorted(users.items()):
            if svc.is_interested_in_user(user_id):
                changed.append(user_id)
                continue
            for room_id in rooms:
                if await self._room_interest(svc, room_id):
                    changed.append(user_id)
                    break
        return changed
