"""Account data ("Client Config"): per-user JSON blobs, global or per room.

Every change gets a position in the account-data stream (see
``storage/stores/account_data.py``), which /sync reads with
``changes_since``.
"""

from __future__ import annotations

from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.core.errors import BadJson, CanonicalJsonError, Forbidden, NotFound
from homeserver.notifier import Notifier
from homeserver.services.requester import Requester
from homeserver.storage.db import Database
from homeserver.storage.stores.account_data import AccountDataChange, AccountDataStore

#: Types the server maintains itself; clients set them through their own
#: endpoints (read markers, push rules), never through account data.
SERVER_MANAGED_TYPES = frozenset({"m.fully_read", "m.push_rules"})

#: Longest account data type accepted, in UTF-8 bytes.
MAX_TYPE_BYTES = 255


class ServerManagedType(BadJson):
    """405 M_BAD_JSON: this account data type is controlled by the server."""

    def __init__(self, data_type: str) -> None:
        super().__init__(f"Cannot set {data_type} through this API", status=405)


class AccountDataService:
    """Reads and writes a user's account data."""

    def __init__(
        self,
        db: Database,
        store: AccountDataStore | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._db = db
        self._store = store or AccountDataStore()
        self._notifier = notifier

    async def get(
        self, requester: Requester, user_id: str, room_id: str | None, data_type: str
    ) -> dict[str, Any]:
        """One entry of the requester's account data.

        Args:
            room_id: the room, or None for global account data.

        Raises:
            Forbidden: ``user_id`` is not the requester.
            NotFound: never set.
        """
        _check_owner(requester, user_id, "read")
        async with self._db.read() as conn:
            content = await self._store.get(conn, user_id, room_id, data_type)
        if content is None:
            raise NotFound("Account data not found")
        return content

    async def put(
        self,
        requester: Requester,
        user_id: str,
        room_id: str | None,
        data_type: str,
        content: dict[str, Any],
    ) -> int:
        """Sets one entry of the requester's account data.

        Returns:
            The stream position of the change.

        Raises:
            Forbidden: ``user_id`` is not the requester.
            ServerManagedType: ``m.fully_read`` / ``m.push_rules``.
            BadJson: empty or over-long type, or content that is not encodable.
        """
        _check_owner(requester, user_id, "add")
        if data_type in SERVER_MANAGED_TYPES:
            raise ServerManagedType(data_type)
        return await self.put_internal(user_id, room_id, data_type, content)

    async def put_internal(
        self, user_id: str, room_id: str | None, data_type: str, content: dict[str, Any]
    ) -> int:
        """Sets an entry without the client-facing checks (for server-managed
        types such as ``m.fully_read`` and ``m.push_rules``).

        Returns:
            The stream position of the change.

        Raises:
            BadJson: empty or over-long type, or content that is not encodable.
        """
        if not data_type or len(data_type.encode("utf-8", "surrogatepass")) > MAX_TYPE_BYTES:
            raise BadJson(f"Account data type must be 1 to {MAX_TYPE_BYTES} bytes")
        # PostgreSQL TEXT cannot hold NUL; no sensible type contains one.
        if "\x00" in data_type:
            raise BadJson("Account data type must not contain NUL")
        try:
            encode_canonical_json(content)
            data_type.encode("utf-8")
            (room_id or "").encode("utf-8")
        except (CanonicalJsonError, UnicodeEncodeError) as e:
            raise BadJson("Account data is not valid JSON") from e
        async with self._db.write() as txn:
            position = await self._store.put(txn, user_id, room_id, data_type, content)
        if self._notifier is not None:
            self._notifier.on_account_data(user_id, position)
        return position

    async def changes_since(
        self, user_id: str, since: int, upto: int | None = None
    ) -> list[AccountDataChange]:
        """The user's entries changed after position ``since`` (exclusive) up to
        ``upto`` (inclusive), oldest first."""
        async with self._db.read() as conn:
            return await self._store.changes_since(conn, user_id, since, upto)

    async def current_position(self) -> int:
        """The account-data stream's current position (for sync tokens)."""
        async with self._db.read() as conn:
            return await self._store.current_stream_id(conn)


def _check_owner(requester: Requester, user_id: str, verb: str) -> None:
    if requester.user_id != user_id:
        raise Forbidden(f"Cannot {verb} account data for other users")
