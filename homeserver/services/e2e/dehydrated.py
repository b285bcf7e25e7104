"""Dehydrated devices (MSC3814): a device kept on the server for a user who
has no client running.

A client creates the dehydrated device with its keys and an encrypted blob
(``device_data``) only the user's other clients can open. Other users'
clients see its keys in /keys/query and send it olm messages like to any
device; those wait in the to-device inbox. A new client of the user later
fetches the blob, rehydrates the device locally, reads the waiting messages
page by page and usually replaces the device with a fresh one.

- A user has at most one dehydrated device; creating one deletes the
  previous one (its keys and queued messages go with it).
- The device is an ordinary device: it appears in /devices and can also be
  deleted there, which forgets it as the dehydrated device too.
- Its messages are read with a position token: a read with ``next_batch``
  deletes the messages up to it, the way /sync acknowledges with ``since``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.core.errors import BadJson, CanonicalJsonError, Forbidden, InvalidParam, NotFound
from homeserver.services.accounts.devices import (
    MAX_DISPLAY_NAME_LENGTH,
    DeviceService,
    new_device_id,
)
from homeserver.services.e2e.keys import E2EKeyService
from homeserver.services.e2e.validation import check_id, is_storable_text
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.dehydrated import DehydratedDevice, DehydratedDeviceStore
from homeserver.storage.stores.devices import DeviceStore
from homeserver.storage.stores.to_device import ToDeviceStore
from homeserver.storage.streams import StreamIdGenerator

JsonDict = dict[str, Any]

#: Messages returned per read of the dehydrated device's inbox.
EVENTS_PER_BATCH = 100

#: Above every stream position: deletes a whole inbox.
_ALL = 2**62


class DehydratedDeviceService:
    def __init__(
        self,
        db: Database,
        devices: DeviceService,
        e2e_keys: E2EKeyService,
        to_device_stream: StreamIdGenerator,
    ) -> None:
        self._db = db
        self._devices = devices
        self._e2e_keys = e2e_keys
        self._to_device_stream = to_device_stream
        self._store = DehydratedDeviceStore()
        self._device_rows = DeviceStore()
        self._inbox = ToDeviceStore()

    async def create(
        self,
        user_id: str,
        *,
        device_id: str | None,
        device_data: JsonDict,
        display_name: str | None,
        device_keys: JsonDict | None,
        one_time_keys: JsonDict | None,
        fallback_keys: JsonDict | None,
    ) -> str:
        """Creates the user's dehydrated device, replacing (deleting) any previous one.

        Returns:
            The device id (generated when ``device_id`` is None).

        Raises:
            BadJson / InvalidParam: malformed data or keys, or ``device_id``
                naming another device of the user.
        """
        if device_id is None:
            device_id = new_device_id()
        check_id(device_id, "device_id")
        if display_name is not None and not is_storable_text(display_name, MAX_DISPLAY_NAME_LENGTH):
            raise InvalidParam("Invalid 'initial_device_display_name'")
        if not isinstance(device_data.get("algorithm"), str):
            raise BadJson("'device_data.algorithm' must be a string")
        try:
            encode_canonical_json(device_data)
        except CanonicalJsonError as e:
            raise BadJson("'device_data' must be valid JSON text") from e
        # Checked before anything is replaced, so a bad upload leaves the old device.
        self._e2e_keys.check_upload(
            user_id,
            device_id,
            device_keys=device_keys,
            one_time_keys=one_time_keys,
            fallback_keys=fallback_keys,
        )
        async with self._db.write() as txn:
            old = await self._store.get(txn, user_id)
            if await self._device_rows.get(txn, user_id, device_id) is not None and (
                old is None or old.device_id != device_id
            ):
                raise InvalidParam(f"Device {device_id} already exists and is not dehydrated")
            if old is not None:
                await self._devices.delete_devices_in(txn, user_id, [old.device_id])
            await self._devices.create_or_reuse(txn, user_id, device_id, display_name)
            await self._store.set(txn, user_id, device_id, device_data)
        await self._devices.devices_changed(user_id)
        await self._e2e_keys.upload(
            user_id,
            device_id,
            device_keys=device_keys,
            one_time_keys=one_time_keys,
            fallback_keys=fallback_keys,
        )
        return device_id

    async def get(self, user_id: str) -> DehydratedDevice:
        """Raises NotFound when the user has no dehydrated device."""
        async with self._db.read() as conn:
            found = await self._store.get(conn, user_id)
        if found is None:
            raise NotFound("No dehydrated device available")
        return found

    async def delete(self, user_id: str) -> str:
        """Deletes the user's dehydrated device; returns its id.

        Raises:
            NotFound: the user has none.
        """
        async with self._db.write() as txn:
            found = await self._store.get(txn, user_id)
            if found is None:
                raise NotFound("No dehydrated device available")
            await self._devices.delete_devices_in(txn, user_id, [found.device_id])
        await self._devices.devices_changed(user_id)
        return found.device_id

    async def events(
        self, user_id: str, device_id: str, next_batch: int | None
    ) -> tuple[list[JsonDict], int]:
        """The next page of to-device messages queued for the dehydrated device.

        Messages at or before ``next_batch`` are deleted first (the client got
        them with the previous page).

        Returns:
            The messages, oldest first, and the token of the next page.

        Raises:
            Forbidden: ``device_id`` is not the user's dehydrated device.
        """
        async with self._db.write() as txn:
            found = await self._store.get(txn, user_id)
            if found is None or found.device_id != device_id:
                raise Forbidden("You may only fetch events for your own dehydrated device")
            if next_batch is not None:
                await self._inbox.delete_acknowledged(txn, user_id, device_id, next_batch)
        upto = self._to_device_stream.current_position()
        async with self._db.read() as conn:
            queued = await self._inbox.get_messages(
                conn, user_id, device_id, upto=upto, limit=EVENTS_PER_BATCH
            )
        token = queued[-1].stream_id if queued else (next_batch or 0)
        return [m.message for m in queued], token

    async def on_devices_deleted(
        self, txn: Connection, user_id: str, device_ids: Sequence[str]
    ) -> None:
        """Device-deletion hook: forgets a deleted dehydrated device and its inbox."""
        for device_id in device_ids:
            if await self._store.delete_if(txn, user_id, device_id):
                await self._inbox.delete_acknowledged(txn, user_id, device_id, _ALL)
