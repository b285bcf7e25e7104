"""Devices: listing, renaming, creating and deleting them.

Deleting a device revokes every token issued to it. Other parts of the
server that keep per-device data (end-to-end keys, to-device messages, the
device-list stream) register a hook in ``deletion_hooks``; hooks run inside
the deleting transaction, so a device and its data disappear together.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Awaitable, Callable, Sequence

from homeserver.core.errors import NotFound
from homeserver.services.clock import Clock
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.devices import Device, DeviceStore
from homeserver.storage.stores.tokens import TokenStore

#: Called as ``hook(txn, user_id, deleted_device_ids)`` inside the transaction.
DevicesDeletedHook = Callable[[Connection, str, Sequence[str]], Awaitable[None]]

#: Longest device id or display name accepted from a client.
MAX_DEVICE_ID_LENGTH = 255
MAX_DISPLAY_NAME_LENGTH = 1000


logger = logging.getLogger(__name__)


def new_device_id() -> str:
    """A new random device id: 10 upper-case letters."""
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(10))


class DeviceService:
    """Device management for local users."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._devices = DeviceStore()
        self._tokens = TokenStore()
        self.deletion_hooks: list[DevicesDeletedHook] = []
        #: Called after a commit that added or removed devices of a user (the
        #: device-list stream, so other users' clients refetch keys).
        self.change_hooks: list[Callable[[str], Awaitable[object]]] = []

    async def list_devices(self, user_id: str) -> list[Device]:
        """The user's devices, ordered by device id."""
        async with self._db.read() as conn:
            return await self._devices.list_for_user(conn, user_id)

    async def get_device(self, user_id: str, device_id: str) -> Device:
        """Raises NotFound when the user has no such device."""
        async with self._db.read() as conn:
            device = await self._devices.get(conn, user_id, device_id)
        if device is None:
            raise NotFound("Unknown device")
        return device

    async def set_display_name(
        self, user_id: str, device_id: str, display_name: str | None
    ) -> None:
        """Renames a device.

        Raises:
            NotFound: the user has no such device.
        """
        async with self._db.write() as txn:
            if not await self._devices.set_display_name(txn, user_id, device_id, display_name):
                raise NotFound("Unknown device")

    async def create_or_reuse(
        self,
        txn: Connection,
        user_id: str,
        device_id: str | None,
        display_name: str | None,
    ) -> str:
        """Creates a device inside ``txn``, or reuses an existing one of that id.

        Reusing a device revokes the tokens previously issued to it (the spec
        allows this on login, and it keeps one live session per device).

        Returns:
            The device id (generated when ``device_id`` is None).
        """
        now = self._clock.time_ms()
        if device_id is None:
            while True:
                device_id = new_device_id()
                if await self._devices.upsert(
                    txn, user_id, device_id, display_name=display_name, now_ms=now
                ):
                    return device_id
        created = await self._devices.upsert(
            txn, user_id, device_id, display_name=display_name, now_ms=now
        )
        if not created:
            await self._tokens.delete_access_tokens_for_devices(txn, user_id, [device_id])
        return device_id

    async def delete_devices(self, user_id: str, device_ids: Sequence[str]) -> None:
        """Deletes devices and revokes their tokens; unknown ids are ignored."""
        async with self._db.write() as txn:
            await self.delete_devices_in(txn, user_id, device_ids)
        await self.devices_changed(user_id)

    async def devices_changed(self, user_id: str) -> None:
        """Announces, after commit, that the user's device list changed."""
        for hook in self.change_hooks:
            try:
                await hook(user_id)
            except Exception:
                logger.exception("device change hook failed for %s", user_id)

    async def delete_devices_in(
        self, txn: Connection, user_id: str, device_ids: Sequence[str]
    ) -> None:
        """``delete_devices`` inside the caller's transaction."""
        await self._tokens.delete_access_tokens_for_devices(txn, user_id, device_ids)
        deleted = await self._devices.delete(txn, user_id, device_ids)
        await self._run_hooks(txn, user_id, deleted)

    async def delete_all_devices_in(
        self, txn: Connection, user_id: str, *, keep_device_id: str | None = None
    ) -> None:
        """Deletes every device of the user (but ``keep_device_id``) and their tokens.

        Tokens without a device are left alone; callers revoke them separately.
        """
        deleted = await self._devices.delete_all_except(txn, user_id, keep_device_id)
        await self._tokens.delete_access_tokens_for_devices(txn, user_id, deleted)
        await self._run_hooks(txn, user_id, deleted)

    async def _run_hooks(self, txn: Connection, user_id: str, deleted: Sequence[str]) -> None:
        if not deleted:
            return
        for hook in self.deletion_hooks:
            await hook(txn, user_id, deleted)
