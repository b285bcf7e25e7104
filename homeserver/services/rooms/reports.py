"""Reports of events and rooms (``POST /rooms/{roomId}/report[/{eventId}]``).

Reports are stored for the server's admins. An event can be reported only
by a user joined to its room who may see the event; otherwise the answer is
404, so a report reveals nothing the user could not read. A room can be
reported by anyone, as long as this server knows it.
"""

from __future__ import annotations

import logging

from homeserver.core.errors import InvalidParam, NotFound
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.storage.db import Database
from homeserver.storage.stores.directory import DirectoryStore, Report

logger = logging.getLogger(__name__)

#: Longest reason kept, in characters.
MAX_REASON_LEN = 4096


class ReportService:
    def __init__(self, db: Database, rooms: Rooms, clock: Clock, store: DirectoryStore) -> None:
        self._db = db
        self._rooms = rooms
        self._clock = clock
        self._store = store

    async def report_event(
        self,
        requester: Requester,
        room_id: str,
        event_id: str,
        reason: str | None,
        score: int | None,
    ) -> None:
        """Stores a report of an event.

        Raises:
            InvalidParam: ``score`` outside -100..0, or the reason is too long.
            NotFound: unknown event, not in the room, or not visible to the
                reporter (who must be joined).
        """
        if score is not None and not -100 <= score <= 0:
            raise InvalidParam("'score' must be between -100 and 0")
        self._check_reason(reason)
        snapshot = await self._rooms.cache.room(room_id)
        if snapshot is None or snapshot.membership_of(requester.user_id) != "join":
            raise NotFound("Event not found")
        # Raises NotFound when unknown, elsewhere or hidden by history visibility.
        await self._rooms.read.get_event(requester, room_id, event_id)
        await self._insert(room_id, event_id, requester.user_id, reason, score)

    async def report_room(self, requester: Requester, room_id: str, reason: str) -> None:
        """Stores a report of a room.

        Raises:
            InvalidParam: the reason is too long.
            NotFound: a room this server does not know.
        """
        self._check_reason(reason)
        if await self._rooms.cache.room(room_id) is None:
            raise NotFound("Room not found")
        await self._insert(room_id, None, requester.user_id, reason, None)

    async def reports(self, limit: int = 100) -> list[Report]:
        """The newest reports, for admins."""
        async with self._db.read() as conn:
            return await self._store.list_reports(conn, limit)

    def _check_reason(self, reason: str | None) -> None:
        if reason is not None and (len(reason) > MAX_REASON_LEN or "\x00" in reason):
            raise InvalidParam(f"'reason' must be under {MAX_REASON_LEN} characters, without NUL")

    async def _insert(
        self,
        room_id: str,
        event_id: str | None,
        user_id: str,
        reason: str | None,
        score: int | None,
    ) -> None:
        async with self._db.write() as txn:
            report_id = await self._store.insert_report(
                txn, room_id, event_id, user_id, reason, score, self._clock.time_ms()
            )
        logger.info("report %d from %s about %s %s", report_id, user_id, room_id, event_id or "")
