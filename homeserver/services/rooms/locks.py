"""One writer per room: an in-process lock per room id.

Everything that builds an event on top of the room's current state (reads
the forward extremities, depth and auth state, then persists) holds the
room's lock, so two events of one room are never built on the same parent.
Across worker processes the same call will mean "this process is the room's
event writer" (events for a room are routed to one writer).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class RoomLocks:
    """Per-room ``asyncio.Lock``s, dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, room_id: str) -> AsyncIterator[None]:
        lock = self._locks.get(room_id)
        if lock is None:
            lock = self._locks[room_id] = asyncio.Lock()
        self._users[room_id] = self._users.get(room_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[room_id] -= 1
            if self._users[room_id] == 0:
                del self._users[room_id]
                del self._locks[room_id]

    def is_held(self, room_id: str) -> bool:
        lock = self._locks.get(room_id)
        return lock is not None and lock.locked()
