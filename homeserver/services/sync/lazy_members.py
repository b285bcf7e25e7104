"""Which member events a device already received (lazy-loading members).

With ``lazy_load_members`` and ``include_redundant_members=false`` (the
default) a member event the client already got on this device is not sent
again. Per ``(user, device)`` we keep an LRU of ``(room_id, state_key) →
event_id`` that were sent; a membership change has a new event id, so it is
sent again. Memory is bounded twice: entries per device and devices kept.
A device missing from the cache only costs redundant events, never missing
ones, and an initial (or ``full_state``) sync starts the device afresh.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

#: member events remembered per device
MAX_PER_DEVICE = 2048
#: devices remembered (least recently syncing dropped first)
MAX_DEVICES = 1024

_Key = tuple[str, str]


class SentMembers:
    """An LRU per device of member events already sent, in an LRU of devices."""

    def __init__(self, per_device: int = MAX_PER_DEVICE, devices: int = MAX_DEVICES) -> None:
        self._per_device = per_device
        self._devices = devices
        self._sent: OrderedDict[_Key, OrderedDict[_Key, str]] = OrderedDict()

    def reset(self, user_id: str, device_id: str) -> None:
        """Forgets what the device got (it starts over with an initial sync)."""
        self._sent.pop((user_id, device_id), None)

    def already_sent(
        self, user_id: str, device_id: str, room_id: str, state_key: str
    ) -> str | None:
        """The member event id last sent to the device for this member, if remembered."""
        sent = self._sent.get((user_id, device_id))
        if sent is None:
            return None
        return sent.get((room_id, state_key))

    def record(
        self, user_id: str, device_id: str, room_id: str, members: Iterable[tuple[str, str]]
    ) -> None:
        """Remembers ``(state_key, event_id)`` member events sent in ``room_id``."""
        device = (user_id, device_id)
        sent = self._sent.get(device)
        if sent is None:
            sent = OrderedDict()
            self._sent[device] = sent
            if len(self._sent) > self._devices:
                self._sent.popitem(last=False)
        else:
            self._sent.move_to_end(device)
        for state_key, event_id in members:
            key = (room_id, state_key)
            sent[key] = event_id
            sent.move_to_end(key)
        while len(sent) > self._per_device:
            sent.popitem(last=False)

    def device_count(self) -> int:
        return len(self._sent)

    def entry_count(self, user_id: str, device_id: str) -> int:
        return len(self._sent.get((user_id, device_id), ()))
