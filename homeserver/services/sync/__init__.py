"""``/sync`` and the streams only it reads: typing, receipts, presence,
to-device, device lists; plus filters.

Modules, by verb:

- ``streams``: position allocation for the sync streams, the current token;
- ``service``: one response and the long-poll around it;
- ``rooms``: the join / invite / knock / leave sections;
- ``memberships``, ``shared``: what requests keep or share (the user's
  memberships; reads that the long-polls woken by one change all need);
- ``timeline``, ``state``, ``ephemeral``, ``summary``: the blocks of a room;
- ``typing``, ``receipts``, ``presence``, ``to_device``, ``device_lists``:
  the write side of each stream.

``build_sync`` wires them; the container exposes the result as
``services.sync``.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.config.model import Config
from homeserver.notifier import Notifier
from homeserver.services.account_data import AccountDataService
from homeserver.services.clock import Clock
from homeserver.services.filters import FilterService
from homeserver.services.rooms import Rooms
from homeserver.services.sync.device_lists import DeviceListService
from homeserver.services.sync.memberships import MembershipCache
from homeserver.services.sync.presence import PresenceService
from homeserver.services.sync.receipts import ReceiptService
from homeserver.services.sync.rooms import RoomSections
from homeserver.services.sync.service import SyncService
from homeserver.services.sync.streams import SyncStreams, TokenSource, TypingPosition
from homeserver.services.sync.to_device import ToDeviceService
from homeserver.services.sync.typing import TypingService
from homeserver.storage.db import Database
from homeserver.storage.stores.receipts import ReceiptStore


@dataclass(frozen=True, slots=True)
class Sync:
    """The sync services, as ``services.sync``."""

    sync: SyncService
    #: room sections; ``sections.push_counts_many`` / ``thread_counts_many``
    #: are the unread-count hooks
    sections: RoomSections
    filters: FilterService
    typing: TypingService
    receipts: ReceiptService
    presence: PresenceService
    to_device: ToDeviceService
    device_lists: DeviceListService
    streams: SyncStreams
    tokens: TokenSource


async def build_sync(
    config: Config,
    db: Database,
    clock: Clock,
    notifier: Notifier,
    rooms: Rooms,
    account_data: AccountDataService,
) -> Sync:
    """Builds the sync services; reads the stream positions once (startup)."""
    streams = await SyncStreams.load(db)
    # Each stream's positions and the notifier's news of them move together.
    notifier.follow("receipts", streams.receipts)
    notifier.follow("to_device", streams.to_device)
    notifier.follow("presence", streams.presence)
    notifier.follow("device_lists", streams.device_lists)
    typing_position = TypingPosition()
    tokens = TokenSource(streams, rooms.persister.event_stream, typing_position, notifier=notifier)
    async with db.read() as conn:
        notifier.set_earliest(await tokens.current_token(conn))
    typing = TypingService(rooms.cache, notifier, typing_position)
    receipt_store = ReceiptStore()
    presence = PresenceService(db, clock, config.presence, notifier, streams, rooms.state_store)
    to_device = ToDeviceService(db, clock, notifier, streams, config.server_name)
    device_lists = DeviceListService(db, notifier, streams, rooms.state_store)
    memberships = MembershipCache(clock)
    # Member events tell the cache, inside their transaction, whose
    # memberships it no longer knows.
    rooms.persister.in_transaction.append(memberships.in_transaction)
    sections = RoomSections(
        db,
        rooms.cache,
        rooms.read,
        rooms.state_store,
        notifier,
        typing,
        receipt_store,
        clock=clock,
        membership_cache=memberships,
    )
    service = SyncService(
        db,
        clock,
        notifier,
        tokens,
        sections,
        rooms.cache,
        account_data,
        typing,
        presence,
        to_device,
        device_lists.changes,
        timeout_cap_ms=config.limits.sync_timeout_cap_ms,
    )
    return Sync(
        sync=service,
        sections=sections,
        filters=FilterService(db),
        typing=typing,
        receipts=ReceiptService(
            db, clock, rooms.cache, notifier, streams, account_data, receipt_store
        ),
        presence=presence,
        to_device=to_device,
        device_lists=device_lists,
        streams=streams,
        tokens=tokens,
    )
