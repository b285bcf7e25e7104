"""Reads that the ``/sync`` requests woken by one change share.

When a message lands in a room with many long-polling members, every waiter
wakes at once and asks the database the same questions: the room's events
in ``(since, now]``, the membership changes in that range. Their answers
depend only on the key (room, range), and rows at or below a committed
stream position never change, so the first request reads and the others
reuse the result.

:class:`SharedReads` is that memo, with two properties the waiters need:

- *single flight*: a request that finds a key being read waits for that
  read instead of starting its own (200 waiters, one query). A waiter
  whose reader fails or is cancelled reads for itself;
- *bounded*: an LRU of ``max_entries``, each kept ``ttl_ms`` at most.

Only keys whose upper bound is a committed position may be used. Things a
later change can still alter, such as ``redacted_by``, are then as fresh as
a read made when the key's upper bound was current; a request whose token
is newer has a different key. The time bound covers what moves without a
new stream position (retention purges).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

from homeserver.services.clock import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: ``missing keys → {key: value}``; every given key must be in the result.
Loader = Callable[[list[K]], Awaitable[Mapping[K, V]]]


class SharedReads(Generic[K, V]):
    """A single-flight, size- and time-bounded memo of immutable reads."""

    def __init__(self, clock: Clock, *, max_entries: int, ttl_ms: int) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._ttl_ms = ttl_ms
        self._done: OrderedDict[K, tuple[int, V]] = OrderedDict()
        self._inflight: dict[K, asyncio.Future[None]] = {}

    def __len__(self) -> int:
        return len(self._done)

    def clear(self) -> None:
        """Forgets every stored result (reads in flight still finish)."""
        self._done.clear()

    def _fresh(self, key: K, now_ms: int) -> tuple[int, V] | None:
        """The stored ``(expires_ms, value)`` of ``key``, unless absent or expired."""
        found = self._done.get(key)
        if found is None:
            return None
        if found[0] <= now_ms:
            del self._done[key]
            return None
        self._done.move_to_end(key)
        return found

    def _store(self, key: K, value: V) -> None:
        self._done[key] = (self._clock.time_ms() + self._ttl_ms, value)
        self._done.move_to_end(key)
        while len(self._done) > self._max_entries:
            self._done.popitem(last=False)

    async def get_many(self, keys: Sequence[K], load: Loader[K, V]) -> dict[K, V]:
        """The value of every key: stored, read by a request already, or loaded.

        Args:
            keys: what the caller needs (duplicates are fine).
            load: reads the keys nobody has (one call for all of them).
        """
        out: dict[K, V] = {}
        now_ms = self._clock.time_ms()
        mine: list[K] = []
        theirs: list[K] = []
        for key in dict.fromkeys(keys):
            found = self._fresh(key, now_ms)
            if found is not None:
                out[key] = found[1]
            elif key in self._inflight:
                theirs.append(key)
            else:
                mine.append(key)
        if mine:
            out.update(await self._load(mine, load))
        if theirs:
            pending = {self._inflight[k] for k in theirs if k in self._inflight}
            for flight in pending:
                # Shielded: cancelling this request leaves the others waiting.
                await asyncio.shield(flight)
            again: list[K] = []
            now_ms = self._clock.time_ms()
            for key in theirs:
                found = self._fresh(key, now_ms)
                if found is not None:
                    out[key] = found[1]
                else:
                    again.append(key)
            if again:
                out.update(await self._load(again, load))
        return out

    async def _load(self, keys: list[K], load: Loader[K, V]) -> dict[K, V]:
        flight: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._inflight.setdefault(key, flight)
        try:
            loaded = await load(keys)
            out = {key: loaded[key] for key in keys}
            for key, value in out.items():
                self._store(key, value)
            return out
        finally:
            for key in keys:
                if self._inflight.get(key) is flight:
                    del self._inflight[key]
            flight.set_result(None)
