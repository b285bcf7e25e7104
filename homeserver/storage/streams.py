"""Stream position allocation, and announcing what each position changed.

Every kind of change is a stream with integer positions that only go
forward. This process is the single writer of the streams it allocates for
(SQLite is one process; on PostgreSQL the monolith is the one writer until
workers get their own allocation through sequences).

The invariants readers rely on:

1. ``current_position()`` never names a position whose row might still be
   uncommitted. Every position at or below it is either committed or was
   abandoned (its transaction rolled back, leaving a gap).
2. A position becomes current in the same synchronous step in which the
   keys it changed (rooms, users) are handed to the advance listeners (the
   notifier). So whoever reads ``current_position()`` and then asks the
   notifier which rooms or users changed below it gets every one: a token
   never passes a change that the response building it did not consider.

Positions are allocated inside the write transaction, but several write
transactions can be in flight at once (PostgreSQL pool connections; on
SQLite tasks queue for the one writer after allocating), and they do not
necessarily commit in allocation order. So the generator tracks the
allocated-but-unfinished positions, and the current position is one below
the smallest of them. A writer announces what its positions changed after
its commit (and after any work that must be done before readers see them),
then the block ends and the positions are finished; announcements of
positions above the current one wait until the stream passes them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from homeserver.storage.db import Connection


@dataclass(frozen=True, slots=True)
class Announcement:
    """What a committed position changed: the rooms and users it concerns."""

    position: int
    rooms: Collection[str] = ()
    users: Collection[str] = ()


#: ``(new current position, announcements now at or below it, in order)``;
#: called synchronously as the stream advances; must neither block nor raise.
AdvanceListener = Callable[[int, Sequence[Announcement]], None]


class StreamIdGenerator:
    """Allocates positions of one stream in one writer process."""

    __slots__ = ("_allocated", "_listeners", "_unfinished", "_waiting")

    def __init__(self, current: int) -> None:
        """Starts after ``current``, the highest position already stored."""
        self._allocated = current
        self._unfinished: set[int] = set()
        #: announcements of finished positions the stream has not passed yet
        self._waiting: list[Announcement] = []
        self._listeners: list[AdvanceListener] = []

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

    def finish(self, position: int, announcements: Sequence[Announcement] = ()) -> None:
        """Marks ``position`` as committed or abandoned; readers may now pass it.

        Args:
            position: an allocated position.
            announcements: what committed positions of the caller changed;
                handed to the listeners once the stream passes them.
        """
        self.finish_many((position,), announcements)

    def finish_many(
        self, positions: Collection[int], announcements: Sequence[Announcement] = ()
    ) -> None:
        """:meth:`finish` for several positions at once (one advance)."""
        before = self.current_position()
        self._unfinished.difference_update(positions)
        self._waiting.extend(announcements)
        after = self.current_position()
        if after <= before:
            return
        ready = [a for a in self._waiting if a.position <= after]
        if ready:
            self._waiting = [a for a in self._waiting if a.position > after]
            ready.sort(key=lambda a: a.position)
        for listener in self._listeners:
            listener(after, ready)

    def on_advance(self, listener: AdvanceListener) -> None:
        """Calls ``listener(position, announcements)`` each time the current
        position moves up, with the announcements it passed, in order.

        It runs synchronously inside :meth:`finish`, in the same step that
        moves the position, and must neither block nor raise.
        """
        self._listeners.append(listener)

    @contextmanager
    def allocating(self) -> Iterator[PositionBatch]:
        """Allocate inside the block; everything allocated is finished on exit.

        Wrap the whole write transaction (``async with``) in this block, and
        announce what changed after the commit, inside the block, so that
        positions and their changes become visible together::

            with stream.allocating() as positions:
                async with db.write() as txn:
                    pos = positions.next()
                    ...
                positions.announce(rooms=[room_id])

        When the transaction fails nothing is announced and the positions
        become gaps.
        """
        batch = PositionBatch(self)
        try:
            yield batch
        finally:
            self.finish_many(batch.positions, batch.announcements)

    def current_position(self) -> int:
        """The highest position below which nothing is pending (inclusive).

        Every row at or below it has committed or will never exist, and
        every announcement at or below it has reached the listeners.
        """
        if self._unfinished:
            return min(self._unfinished) - 1
        return self._allocated


class PositionBatch:
    """Positions allocated within one :meth:`StreamIdGenerator.allocating` block."""

    __slots__ = ("_stream", "announcements", "positions")

    def __init__(self, stream: StreamIdGenerator) -> None:
        self._stream = stream
        self.positions: list[int] = []
        self.announcements: list[Announcement] = []

    def next(self) -> int:
        position = self._stream.allocate()
        self.positions.append(position)
        return position

    def announce(
        self,
        *,
        rooms: Collection[str] = (),
        users: Collection[str] = (),
        position: int | None = None,
    ) -> None:
        """Records what the batch's committed writes changed (call after the commit).

        Args:
            rooms: rooms whose readers must look again.
            users: users whose readers must look again.
            position: the position the change is at (default: the batch's
                highest); nothing is recorded for a batch that allocated none.
        """
        if position is None:
            if not self.positions:
                return
            position = max(self.positions)
        self.announcements.append(Announcement(position, tuple(rooms), tuple(users)))


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
