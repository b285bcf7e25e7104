"""Wakes waiters (``/sync`` long-polls) when a stream advances for them.

Every change is announced as a *poke*: ``(stream, position, rooms, users)``,
where ``stream`` is a :class:`~homeserver.core.tokens.StreamToken` field name
("room", "typing", "receipts", …), ``position`` the stream's new committed
position, and ``rooms``/``users`` the keys the change concerns. A poke
carries no payload: waiters read the rows from the stream's table. That is
exactly what a PostgreSQL ``NOTIFY`` can carry later, so another process's
changes can be fed in through :meth:`Notifier.poke` unchanged.

Waiters register under their user id and each room they are in. A poke
resolves only the futures registered under its keys whose ``since``
position of that stream is behind the poke, so a message in one room costs
nothing for users elsewhere. A waiter's future is removed when it resolves,
times out or is cancelled (a client disconnecting mid-poll).

The notifier also remembers, per key and stream, the last position it saw
a change at (``changed_since``), so ``/sync`` can skip per-room queries
when nothing concerning a room moved. Before ``earliest`` (what the process
started at) it cannot know and answers "maybe changed".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import fields

from homeserver.core.events import PDU
from homeserver.core.tokens import StreamToken
from homeserver.storage.streams import Announcement, StreamIdGenerator

logger = logging.getLogger(__name__)

STREAMS: tuple[str, ...] = tuple(f.name for f in fields(StreamToken))

#: ``(stream, position, rooms, users)`` of every poke; must not block or fail.
PokeListener = Callable[[str, int, Collection[str], Collection[str]], None]

#: Key prefixes: room and user ids cannot collide, but keep them apart anyway.
_ROOM = "r:"
_USER = "u:"


class _Waiter:
    __slots__ = ("future", "since")

    def __init__(self, future: asyncio.Future[None], since: StreamToken) -> None:
        self.future = future
        self.since = since


class Notifier:
    """Per-room and per-user wake-ups for every stream; see the module docstring."""

    def __init__(self, current: StreamToken | int | None = None) -> None:
        """Starts at ``current``: a token, or only the room stream's position."""
        start = StreamToken(room=current) if isinstance(current, int) else current
        start = start or StreamToken()
        self._positions: dict[str, int] = {s: getattr(start, s) for s in STREAMS}
        self._earliest: dict[str, int] = dict(self._positions)
        self._waiters: dict[str, set[_Waiter]] = {}
        #: key → stream → last position a change concerning the key was seen at
        self._last_change: dict[str, dict[str, int]] = {}
        #: called with every poke (e.g. the appservice ephemeral feed)
        self.listeners: list[PokeListener] = []
        #: set at shutdown: long-polls answer at once instead of waiting
        self._closing = False

    # --- positions -------------------------------------------------------------

    @property
    def position(self) -> int:
        """The highest room event stream position announced so far."""
        return self._positions["room"]

    def stream_position(self, stream: str) -> int:
        """The highest position announced for ``stream``."""
        return self._positions[stream]

    def set_earliest(self, token: StreamToken) -> None:
        """Declares the positions this process starts at (before any poke)."""
        for stream in STREAMS:
            value = getattr(token, stream)
            self._earliest[stream] = max(self._earliest[stream], value)
            self._positions[stream] = max(self._positions[stream], value)

    def changed_since(
        self, stream: str, since: int, *, rooms: Iterable[str] = (), users: Iterable[str] = ()
    ) -> bool:
        """Whether a change of ``stream`` after ``since`` may concern a key.

        False only when the notifier is sure: ``since`` is at or after the
        position it started watching from and no poke for those keys passed it.
        """
        if since < self._earliest[stream]:
            return True
        keys = [_ROOM + r for r in rooms] + [_USER + u for u in users]
        for key in keys:
            last = self._last_change.get(key)
            if last is not None and last.get(stream, 0) > since:
                return True
        return False

    def rooms_changed_since(self, stream: str, since: int, rooms: Iterable[str]) -> set[str]:
        """The rooms among ``rooms`` with a possible change of ``stream`` after ``since``."""
        if since < self._earliest[stream]:
            return set(rooms)
        out: set[str] = set()
        for room_id in rooms:
            last = self._last_change.get(_ROOM + room_id)
            if last is not None and last.get(stream, 0) > since:
                out.add(room_id)
        return out

    # --- pokes -----------------------------------------------------------------

    def poke(
        self,
        stream: str,
        position: int,
        *,
        rooms: Collection[str] = (),
        users: Collection[str] = (),
    ) -> None:
        """Announces that ``stream`` reached ``position`` with changes for these keys.

        Must not block or fail; safe to call from any callback on the loop.
        """
        if position > self._positions[stream]:
            self._positions[stream] = position
        keys = [_ROOM + r for r in rooms] + [_USER + u for u in users]
        for key in keys:
            last = self._last_change.setdefault(key, {})
            if position > last.get(stream, 0):
                last[stream] = position
            waiters = self._waiters.get(key)
            if not waiters:
                continue
            woken = [w for w in waiters if getattr(w.since, stream) < position]
            for waiter in woken:
                if not waiter.future.done():
                    waiter.future.set_result(None)
        for listener in self.listeners:
            try:
                listener(stream, position, rooms, users)
            except Exception:
                logger.exception("poke listener failed")

    def follow(self, stream: str, generator: StreamIdGenerator) -> None:
        """Hears ``generator``'s announcements as pokes of ``stream``.

        The generator calls back in the same synchronous step that moves its
        current position, so by the time a reader sees a position, the
        notifier knows every room and user changed at or below it.
        """
        generator.on_advance(lambda position, changes: self.advanced(stream, position, changes))

    def advanced(self, stream: str, position: int, changes: Sequence[Announcement]) -> None:
        """``stream`` now stands at ``position``; ``changes`` are what moved."""
        for change in changes:
            self.poke(stream, change.position, rooms=change.rooms, users=change.users)
        if position > self._positions[stream]:
            self._positions[stream] = position

    @staticmethod
    def event_keys(pdu: PDU) -> tuple[str, ...]:
        """The users an event wakes besides its room's members: a membership
        event's target (an invitee is not in the room's waiter set yet)."""
        if pdu.type == "m.room.member" and pdu.state_key is not None:
            return (pdu.state_key,)
        return ()

    def on_new_event(self, room_id: str, stream_ordering: int, pdu: PDU) -> None:
        """Called after an event commits; must not block or fail.

        Args:
            room_id: the event's room.
            stream_ordering: its position; every position at or below it is
                committed (the caller passes the stream's current position).
            pdu: the event. A membership event also wakes its target user
                (an invitee is not in the room's waiter set yet).
        """
        users: tuple[str, ...] = ()
        if pdu.type == "m.room.member" and pdu.state_key is not None:
            users = (pdu.state_key,)
        logger.debug("room stream at %d (%s in %s)", stream_ordering, pdu.event_id, room_id)
        self.poke("room", stream_ordering, rooms=(room_id,), users=users)

    def on_typing(self, room_id: str, position: int) -> None:
        self.poke("typing", position, rooms=(room_id,))

    def on_receipt(self, room_id: str, position: int) -> None:
        self.poke("receipts", position, rooms=(room_id,))

    def on_account_data(self, user_id: str, position: int) -> None:
        self.poke("account_data", position, users=(user_id,))

    def on_to_device(self, user_id: str, position: int) -> None:
        self.poke("to_device", position, users=(user_id,))

    def on_presence(self, user_id: str, position: int, rooms: Collection[str]) -> None:
        """A user's presence changed: wakes the user and everyone in their rooms."""
        self.poke("presence", position, rooms=rooms, users=(user_id,))

    def on_device_list(self, user_id: str, position: int, rooms: Collection[str]) -> None:
        """A user's devices changed: wakes the user and everyone sharing a room."""
        self.poke("device_lists", position, rooms=rooms, users=(user_id,))

    # --- waiting ---------------------------------------------------------------

    def _seen_change(self, user_id: str, rooms: Collection[str], since: StreamToken) -> bool:
        """Whether a poke after ``since`` already concerned these keys.

        Unlike :meth:`changed_since`, "unknown" (before ``earliest``) is not
        a change: the caller computed ``since`` from current positions.
        """
        keys = [_USER + user_id] + [_ROOM + r for r in rooms]
        for key in keys:
            last = self._last_change.get(key)
            if last and any(pos > getattr(since, stream) for stream, pos in last.items()):
                return True
        return False

    def waiter_count(self) -> int:
        """How many registrations are live (one per key a waiter is under)."""
        return sum(len(s) for s in self._waiters.values())

    def shutdown(self) -> None:
        """Ends every long-poll now (they answer with what they have, usually
        nothing new) so a graceful shutdown does not wait for their timeouts."""
        self._closing = True
        for waiters in list(self._waiters.values()):
            for waiter in list(waiters):
                if not waiter.future.done():
                    waiter.future.set_result(None)

    async def wait_for_events(
        self, user_id: str, rooms: Collection[str], since: StreamToken, timeout_s: float
    ) -> bool:
        """Waits until a change concerning the user or one of ``rooms`` passes ``since``.

        Args:
            user_id: who waits; user-keyed streams (to-device, account data,
                their own membership changes) wake this key.
            rooms: the rooms whose changes concern the user (joined and invited).
            since: the positions the caller has already seen (exclusive).
            timeout_s: the longest wait.

        Returns:
            True when woken by a change, False on timeout.
        """
        if self._seen_change(user_id, rooms, since):
            return True
        if timeout_s <= 0 or self._closing:
            return False
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), since)
        keys = [_USER + user_id] + [_ROOM + r for r in rooms]
        for key in keys:
            self._waiters.setdefault(key, set()).add(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter.future
            return True
        except TimeoutError:
            return False
        finally:
            for key in keys:
                registered = self._waiters.get(key)
                if registered is not None:
                    registered.discard(waiter)
                    if not registered:
                        del self._waiters[key]
