"""Per-room conversation history, the part the LLM sees."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


class RoomContexts:
    """The last ``limit`` messages of every room, oldest first."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._rooms: dict[str, deque[ChatMessage]] = {}

    def add(self, room_id: str, message: ChatMessage) -> None:
        history = self._rooms.get(room_id)
        if history is None:
            history = self._rooms[room_id] = deque(maxlen=self._limit)
        history.append(message)

    def history(self, room_id: str) -> list[ChatMessage]:
        return list(self._rooms.get(room_id, ()))

    def prompt(self, room_id: str, system_prompt: str) -> list[ChatMessage]:
        """The messages of one request: the system prompt, then the room's history."""
        return [ChatMessage("system", system_prompt), *self.history(room_id)]
