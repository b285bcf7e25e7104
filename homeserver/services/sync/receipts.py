"""Receipts and read markers (client-server spec "Receipts", "Read markers").

``m.read`` and ``m.read.private`` are rows of the receipts stream;
``m.fully_read`` is room account data (the read marker). A private receipt
is only ever served to its own user.
"""

from __future__ import annotations

from typing import Any

from homeserver.core.errors import Forbidden, InvalidParam, NotFound
from homeserver.notifier import Notifier
from homeserver.services.account_data import AccountDataService
from homeserver.services.clock import Clock
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.sync.streams import SyncStreams
from homeserver.storage.db import Database
from homeserver.storage.stores.receipts import ReceiptStore

RECEIPT_TYPES = frozenset({"m.read", "m.read.private"})
FULLY_READ = "m.fully_read"


class ReceiptService:
    """Writes receipts and the read marker."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        cache: RoomCache,
        notifier: Notifier,
        streams: SyncStreams,
        account_data: AccountDataService,
        store: ReceiptStore | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._cache = cache
        self._notifier = notifier
        self._streams = streams
        self._account_data = account_data
        self._store = store or ReceiptStore()

    @property
    def store(self) -> ReceiptStore:
        return self._store

    async def _check(self, user_id: str, room_id: str, event_id: str) -> None:
        snapshot = await self._cache.room(room_id)
        if snapshot is None or snapshot.membership_of(user_id) != "join":
            raise Forbidden("You are not in this room")
        stored = await self._cache.event(event_id)
        if stored is None or stored.pdu.room_id != room_id:
            raise NotFound("Unknown event")

    async def send_receipt(
        self,
        user_id: str,
        room_id: str,
        receipt_type: str,
        event_id: str,
        thread_id: str | None = None,
    ) -> None:
        """``POST /rooms/{roomId}/receipt/{receiptType}/{eventId}``.

        Raises:
            InvalidParam: an unknown receipt type, or a thread id on m.fully_read.
            Forbidden: not joined. NotFound: no such event in the room.
        """
        if receipt_type == FULLY_READ:
            if thread_id is not None:
                raise InvalidParam("m.fully_read cannot have a thread_id")
            await self._check(user_id, room_id, event_id)
            await self.set_fully_read(user_id, room_id, event_id)
            return
        if receipt_type not in RECEIPT_TYPES:
            raise InvalidParam(f"Unknown receipt type {receipt_type[:40]!r}")
        if thread_id is not None and (not thread_id or not isinstance(thread_id, str)):
            raise InvalidParam("thread_id must be a non-empty string")
        await self._check(user_id, room_id, event_id)
        data: dict[str, Any] = {"ts": self._clock.time_ms()}
        if thread_id is not None:
            data["thread_id"] = thread_id
        with self._streams.receipts.allocating() as positions:
            async with self._db.write() as txn:
                position = positions.next()
                await self._store.upsert(
                    txn,
                    room_id=room_id,
                    receipt_type=receipt_type,
                    user_id=user_id,
                    thread_id=thread_id,
                    event_id=event_id,
                    data=data,
                    stream_id=position,
                )
            positions.announce(rooms=(room_id,))

    async def set_fully_read(self, user_id: str, room_id: str, event_id: str) -> None:
        position = await self._account_data.put_internal(
            user_id, room_id, FULLY_READ, {"event_id": event_id}
        )
        self._notifier.on_account_data(user_id, position)

    async def set_read_markers(
        self,
        user_id: str,
        room_id: str,
        *,
        fully_read: str | None,
        read: str | None,
        read_private: str | None,
    ) -> None:
        """``POST /rooms/{roomId}/read_markers``: any of the three, each optional."""
        if fully_read is not None:
            await self._check(user_id, room_id, fully_read)
            await self.set_fully_read(user_id, room_id, fully_read)
        if read is not None:
            await self.send_receipt(user_id, room_id, "m.read", read)
        if read_private is not None:
            await self.send_receipt(user_id, room_id, "m.read.private", read_private)
