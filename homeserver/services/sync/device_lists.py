"""The device-list change stream: which users' devices changed, by position.

``/sync`` reports, in ``device_lists.changed``, users sharing a room with
the syncing user whose devices changed since the token. Writers of devices
and keys call :meth:`DeviceListService.devices_changed`.
"""

from __future__ import annotations

from homeserver.notifier import Notifier
from homeserver.services.sync.streams import SyncStreams
from homeserver.storage.db import Database
from homeserver.storage.stores.presence import PresenceStore
from homeserver.storage.stores.state import StateStore


class DeviceListService:
    def __init__(
        self,
        db: Database,
        notifier: Notifier,
        streams: SyncStreams,
        state_store: StateStore,
        store: PresenceStore | None = None,
    ) -> None:
        self._db = db
        self._notifier = notifier
        self._streams = streams
        self._state = state_store
        self._store = store or PresenceStore()

    async def devices_changed(self, user_id: str) -> int:
        """Records that the user's devices or keys changed; returns the position."""
        with self._streams.device_lists.allocating() as positions:
            async with self._db.write() as txn:
                position = positions.next()
                await self._store.add_device_list_change(txn, user_id, position)
                rooms = await self._state.rooms_for_user(txn, user_id)
            positions.announce(rooms=rooms, users=(user_id,))
        return position

    async def changes(self, since: int, upto: int) -> set[str]:
        """Users whose devices changed in ``(since, upto]``."""
        async with self._db.read() as conn:
            return await self._store.device_list_changes(conn, since=since, upto=upto)
