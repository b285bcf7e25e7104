"""Typing notifications: in memory, per room, with expiry timers.

Each change advances the typing stream (an in-memory counter; see
``streams.TypingPosition``) and pokes the room's waiters. An entry expires
after its timeout through a loop timer (``call_later``), not a polling task.
"""

from __future__ import annotations

import asyncio
import logging

from homeserver.core.errors import Forbidden
from homeserver.notifier import Notifier
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.sync.streams import TypingPosition

logger = logging.getLogger(__name__)

#: Longest typing timeout honoured, in ms.
MAX_TYPING_TIMEOUT_MS = 120_000
#: Timeout used when the client gives none.
DEFAULT_TYPING_TIMEOUT_MS = 30_000


class TypingService:
    """Who is typing in which room."""

    def __init__(self, cache: RoomCache, notifier: Notifier, position: TypingPosition) -> None:
        self._cache = cache
        self._notifier = notifier
        self._position = position
        self._typing: dict[str, dict[str, asyncio.TimerHandle]] = {}
        #: room → typing position of its latest change
        self._changed_at: dict[str, int] = {}

    @property
    def position(self) -> int:
        return self._position.position

    def see_position(self, position: int) -> None:
        """Moves the counter past a position a client presented (after a restart)."""
        if position > self._position.position:
            self._position.position = position

    async def set_typing(
        self, user_id: str, room_id: str, typing: bool, timeout_ms: int | None
    ) -> None:
        """Starts or stops the user's typing notification in a room.

        Raises:
            Forbidden: the user is not joined to the room.
        """
        snapshot = await self._cache.room(room_id)
        if snapshot is None or snapshot.membership_of(user_id) != "join":
            raise Forbidden("You are not in this room")
        room = self._typing.setdefault(room_id, {})
        old = room.pop(user_id, None)
        if old is not None:
            old.cancel()
        if typing:
            timeout = min(max(timeout_ms or DEFAULT_TYPING_TIMEOUT_MS, 0), MAX_TYPING_TIMEOUT_MS)
            loop = asyncio.get_running_loop()
            room[user_id] = loop.call_later(timeout / 1000, self._expire, room_id, user_id)
        elif old is None:
            return  # stopping when not typing changes nothing
        self._changed(room_id)

    def _expire(self, room_id: str, user_id: str) -> None:
        room = self._typing.get(room_id)
        if room is not None and room.pop(user_id, None) is not None:
            self._changed(room_id)

    def _changed(self, room_id: str) -> None:
        if not self._typing.get(room_id):
            self._typing.pop(room_id, None)
        self._position.position += 1
        self._changed_at[room_id] = self._position.position
        self._notifier.on_typing(room_id, self._position.position)

    def typing_users(self, room_id: str) -> list[str]:
        return sorted(self._typing.get(room_id, {}))

    def changed_since(self, room_id: str, since: int) -> bool:
        return self._changed_at.get(room_id, 0) > since

    def close(self) -> None:
        """Cancels every expiry timer (shutdown)."""
        for room in self._typing.values():
            for handle in room.values():
                handle.cancel()
        self._typing.clear()
