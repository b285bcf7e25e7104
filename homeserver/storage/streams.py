"""Stream position allocation.

Every kind of change is a stream with integer positions that only go
forward. This process is the single writer of the streams it allocates for
(SQLite is one process; on PostgreSQL the monolith is the one writer until
workers get their own allocation through sequences).

The invariant readers rely on:

    ``current_position()`` never names a position whose row might still be
    uncommitted. Every position at or below it is either committed or was
    abandoned (its transaction rolled back, leaving a gap).

Positions are allocated inside the write transaction, but several write
transactions can be in flight at once (PostgreSQL pool connections; on
SQLite tasks queue for the one writer after allocating), and they do not
necessarily commit in allocation order. So the generator tracks the
allocated-but-unfinished positions, and the current position is one below
the smallest of them. The writer calls :meth:`StreamIdGenerator.finish`
after the transaction ends, committed or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from homeserver.storage.db import Connection


class StreamIdGenerator:
    """Allocates positions of one stream in one writer process."""

    __slots__ = ("_allocated", "_on_advance", "_unfinished")

    def __init__(self, current: int) -> None:
        """Starts after ``current``, the highest position already stored."""
        self._allocated = current
        self._unfinished: set[int] = set()
        #: called with the new current position whenever :meth:`finish` moves it
        self._on_advance: list[Callable[[int], None]] = []

    @classmethod
    async def load(cls, conn: Connection, table: str, column: str) -> StreamIdGenerator:
        """A generator continuing after ``MAX(column)`` of ``table`` (0 when empty).

        Args:
            conn: any connection; read once at startup.
            table: the stream's backing table (a constant, never user input).
            column: its position column.
        """
        current = await conn.fetchval(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")
        return cls(int(current or 0))

    def allocate(self) -> int:
        """Reserves the next position. The caller must :meth:`finish` it."""
        self._allocated += 1
        self._unfinished.add(self._allocated)
        return self._allocated

    def finish(self, position: int) -> None:
        """Marks ``position`` as committed or abandoned; readers may now pass it."""
        before = self.current_position()
        self._unfinished.discard(position)
        after = self.current_position()
        if after > before:
            for listener in self._on_advance:
                listener(after)

    def on_advance(self, listener: Callable[[int], None]) -> None:
        """Calls ``listener(position)`` each time the current position moves up.

        It runs synchronously inside :meth:`finish` and must neither block nor
        raise (a writer that committed out of order uses it to announce the
        positions it held back).
        """
        self._on_advance.append(listener)

    @contextmanager
    def allocating(self) -> Iterator[PositionBatch]:
        """Allocate inside the block; everything allocated is finished on exit.

        Wrap the whole write transaction (``async with``) in this block so
        that positions become visible only after the commit::

            with stream.allocating() as positions:
                async with db.write() as txn:
                    pos = positions.next()
                    ...
        """
        batch = PositionBatch(self)
        try:
            yield batch
        finally:
            for position in batch.positions:
                self.finish(position)

    def current_position(self) -> int:
        """The highest position below which nothing is pending (inclusive).

        Every row at or below it has committed or will never exist.
        """
        if self._unfinished:
            return min(self._unfinished) - 1
        return self._allocated


class PositionBatch:
    """Positions allocated within one :meth:`StreamIdGenerator.allocating` block."""

    __slots__ = ("_stream", "positions")

    def __init__(self, stream: StreamIdGenerator) -> None:
        self._stream = stream
        self.positions: list[int] = []

    def next(self) -> int:
        position = self._stream.allocate()
        self.positions.append(position)
        return position


class IdGenerator:
    """Plain increasing ids (e.g. state groups) for the single writer process.

    Unlike a stream, nobody reads "up to" these ids, so there is no
    committed-position tracking; rolled-back ids leave harmless gaps.
    """

    __slots__ = ("_last",)

    def __init__(self, last: int) -> None:
        self._last = last

    @classmethod
    async def load(cls, conn: Connection, table: str, column: str) -> IdGenerator:
        last = await conn.fetchval(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")
        return cls(int(last or 0))

    def next(self) -> int:
        self._last += 1
        return self._last
