"""Stream writers of the sync-only streams and the "current token".

``current_token`` reads every stream's committed position; ``/sync`` calls
it BEFORE querying, so a change committing during the queries has a
position above the returned ``next_batch`` and is delivered next time.

Every position but account data's lives in memory. Account data's is a
database row (so PostgreSQL writers can share it); it is read again only
when the notifier has heard of an account-data change since the last read,
so a burst of woken ``/sync`` requests costs no query for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.core.tokens import StreamToken
from homeserver.notifier import Notifier
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.account_data import AccountDataStore
from homeserver.storage.streams import StreamIdGenerator


@dataclass(slots=True)
class SyncStreams:
    """Position allocation for receipts, to-device, presence and device lists."""

    receipts: StreamIdGenerator
    to_device: StreamIdGenerator
    presence: StreamIdGenerator
    device_lists: StreamIdGenerator

    @classmethod
    async def load(cls, db: Database) -> SyncStreams:
        """Continues each stream after its table's highest position (startup)."""
        async with db.read() as conn:
            return cls(
                receipts=await StreamIdGenerator.load(conn, "receipts", "stream_id"),
                to_device=await StreamIdGenerator.load(conn, "device_inbox", "stream_id"),
                presence=await StreamIdGenerator.load(conn, "presence", "stream_id"),
                device_lists=await StreamIdGenerator.load(conn, "device_lists_stream", "stream_id"),
            )


class TokenSource:
    """Reads the current committed position of every stream."""

    def __init__(
        self,
        streams: SyncStreams,
        room_stream: StreamIdGenerator,
        typing_position: TypingPosition,
        account_data: AccountDataStore | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._streams = streams
        self._room_stream = room_stream
        self._typing = typing_position
        self._account_data = account_data or AccountDataStore()
        self._notifier = notifier
        #: ``(notifier's account-data position, the row's position)`` of the last read
        self._account_data_read: tuple[int, int] | None = None

    async def _account_data_position(self, conn: Connection) -> int:
        # Every account-data writer pokes the notifier after its commit, so
        # while the notifier's position stands still the row does too.
        if self._notifier is None:
            return await self._account_data.current_stream_id(conn)
        heard = self._notifier.stream_position("account_data")
        last = self._account_data_read
        if last is not None and last[0] == heard:
            return last[1]
        position = await self._account_data.current_stream_id(conn)
        self._account_data_read = (heard, position)
        return position

    async def current_token(self, conn: Connection) -> StreamToken:
        """Every stream's committed position (inclusive)."""
        return StreamToken(
            room=self._room_stream.current_position(),
            account_data=await self._account_data_position(conn),
            receipts=self._streams.receipts.current_position(),
            typing=self._typing.position,
            to_device=self._streams.to_device.current_position(),
            device_lists=self._streams.device_lists.current_position(),
            presence=self._streams.presence.current_position(),
        )


class TypingPosition:
    """The typing stream lives in memory: a counter, reset on restart.

    A token from before a restart may be ahead of the counter; the service
    starts the counter above any position it sees in a client's token.
    """

    def __init__(self) -> None:
        self.position = 0
