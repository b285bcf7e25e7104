"""Send-to-device messaging (client-server spec "Send-to-Device messaging").

Messages for local devices are queued in ``device_inbox`` at a position of
the to-device stream; ``*`` expands to every device of the user at send
time. Delivery is at least once: a message is deleted only when the device
syncs with a ``since`` at or past it. Remote users need federation (EDUs),
which is not wired yet; messages for them are dropped with a debug log.
Each message's content is limited to ``MAX_CONTENT_BYTES`` of canonical
JSON (413 M_TOO_LARGE above), the size of one federation EDU.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.core.errors import BadJson, CanonicalJsonError, TooLarge
from homeserver.core.ids import server_name_of
from homeserver.notifier import Notifier
from homeserver.services.clock import Clock
from homeserver.services.sync.streams import SyncStreams
from homeserver.storage.db import Database
from homeserver.storage.stores.devices import DeviceStore
from homeserver.storage.stores.to_device import InboxMessage, ToDeviceStore

logger = logging.getLogger(__name__)

#: Messages delivered per sync; the rest come with the next one.
MESSAGES_PER_SYNC = 100

#: Largest content of one message, in bytes of canonical JSON: what fits in
#: one federation EDU (64 KiB), so a message can always be relayed.
MAX_CONTENT_BYTES = 65536


class ToDeviceService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        notifier: Notifier,
        streams: SyncStreams,
        server_name: str,
        store: ToDeviceStore | None = None,
        devices: DeviceStore | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._notifier = notifier
        self._streams = streams
        self._server_name = server_name
        self._store = store or ToDeviceStore()
        self._devices = devices or DeviceStore()
        #: (user, device) → highest position handed to the device, not yet deleted
        self._delivered: dict[tuple[str, str], int] = {}

    async def send(
        self,
        sender: str,
        sender_device: str | None,
        event_type: str,
        txn_path: str,
        messages: Mapping[str, Any],
    ) -> None:
        """Queues ``messages`` (``{user_id: {device_id or "*": content}}``).

        A repeated ``txn_path`` for the same device is accepted and ignored.

        Raises:
            BadJson: a malformed ``messages`` map.
            TooLarge: a message content over ``MAX_CONTENT_BYTES``.
        """
        for user_id, by_device in messages.items():
            if not isinstance(by_device, dict) or not all(
                isinstance(c, dict) for c in by_device.values()
            ):
                raise BadJson(f"messages.{user_id[:80]} must map device ids to objects")
            for content in by_device.values():
                _check_content_size(content)
        woken: set[str] = set()
        with self._streams.to_device.allocating() as positions:
            async with self._db.write() as txn:
                fresh = await self._store.record_txn(
                    txn, sender, sender_device or "", txn_path, self._clock.time_ms()
                )
                if not fresh:
                    return
                rows: list[tuple[str, str, int, dict[str, Any]]] = []
                for user_id, by_device in messages.items():
                    if _server_of(user_id) != self._server_name:
                        logger.debug("to-device for remote user %s dropped", user_id)
                        continue
                    if "*" in by_device:
                        known = [
                            d.device_id for d in await self._devices.list_for_user(txn, user_id)
                        ]
                        targets = dict.fromkeys(known, by_device["*"])
                        targets.update({d: c for d, c in by_device.items() if d in known})
                    else:
                        targets = dict(by_device)
                    for device_id, content in targets.items():
                        message = {"type": event_type, "sender": sender, "content": content}
                        rows.append((user_id, device_id, positions.next(), message))
                        woken.add(user_id)
                await self._store.add_messages(txn, rows)
            positions.announce(users=woken)

    def awaiting_ack(self, user_id: str, device_id: str) -> bool:
        """Whether the device was handed messages that its next sync acknowledges."""
        return (user_id, device_id) in self._delivered

    async def for_sync(
        self, user_id: str, device_id: str, *, since: int, upto: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Acknowledges messages up to ``since`` and returns the pending ones.

        Returns:
            The messages (oldest first) and the to-device position the next
            token should carry: ``upto``, or the last message's position when
            more messages are waiting.
        """
        key = (user_id, device_id)
        delivered = self._delivered.get(key)
        # Only a device we handed messages to has anything to acknowledge, so
        # an idle sync writes nothing.
        if delivered is not None and since > 0:
            async with self._db.write() as txn:
                await self._store.delete_acknowledged(txn, user_id, device_id, since)
            if since >= delivered:
                del self._delivered[key]
        if not self._notifier.changed_since("to_device", since, users=(user_id,)) and (
            key not in self._delivered
        ):
            return [], upto
        async with self._db.read() as conn:
            queued: list[InboxMessage] = await self._store.get_messages(
                conn, user_id, device_id, upto=upto, limit=MESSAGES_PER_SYNC
            )
        position = upto
        if queued:
            self._delivered[key] = max(queued[-1].stream_id, self._delivered.get(key, 0))
        if len(queued) == MESSAGES_PER_SYNC:
            position = queued[-1].stream_id
        return [m.message for m in queued], position


def _check_content_size(content: Mapping[str, Any]) -> None:
    try:
        size = len(encode_canonical_json(content))
    except CanonicalJsonError as e:
        raise BadJson("A to-device message must be valid JSON text") from e
    if size > MAX_CONTENT_BYTES:
        raise TooLarge(f"A to-device message content is over {MAX_CONTENT_BYTES} bytes")


def _server_of(user_id: str) -> str | None:
    try:
        return server_name_of(user_id)
    except ValueError:
        return None
