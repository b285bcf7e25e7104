"""What a local user carries from an upgraded room to its replacement.

When a local user newly joins a room whose ``m.room.create`` names a
``predecessor`` (``POST /upgrade`` creates one, and so may a plain
``createRoom`` with ``creation_content.predecessor``: a manual upgrade),
their settings for the old room are copied to the new one, as Synapse does
(the spec says nothing of it; Complement's TestPushRuleRoomUpgrade checks
the push rules):

- push rules about the old room (``PushRulesService.copy_room_rules``);
- the old room's tags;
- ``m.direct``: the new room joins the old room's direct-chat entry.

The in-transaction hook sees the room's memberships before the batch, so
it knows a new join from a profile change; the copies are made after the
commit, before ``/sync`` learns of the join, each best effort (a failure is
logged, the join stands).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.core.errors import NotFound
from homeserver.services.account_data import AccountDataService
from homeserver.services.push.rules import PushRulesService
from homeserver.services.requester import Requester
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.tags import TagService
from homeserver.storage.db import Connection
from homeserver.storage.stores.events import StoredEvent

logger = logging.getLogger(__name__)

DIRECT = "m.direct"
#: joins whose copies are still to be made, at most (a rolled-back batch
#: never reaches ``after_commit``)
_MAX_PENDING = 1000


@dataclass(frozen=True, slots=True)
class _Carry:
    user_id: str
    old_room_id: str
    new_room_id: str


def _predecessor(content: dict[str, Any]) -> str | None:
    predecessor = content.get("predecessor")
    if not isinstance(predecessor, dict):
        return None
    room_id = predecessor.get("room_id")
    return room_id if isinstance(room_id, str) and room_id else None


class UpgradeCarryOver:
    def __init__(
        self,
        cache: RoomCache,
        rules: PushRulesService,
        tags: TagService,
        account_data: AccountDataService,
        server_name: str,
    ) -> None:
        self._cache = cache
        self._rules = rules
        self._tags = tags
        self._account_data = account_data
        self._local_suffix = ":" + server_name
        #: event id of a join → what it carries over
        self._pending: dict[str, _Carry] = {}

    async def note_joins(self, txn: Connection, stored_events: Sequence[StoredEvent]) -> None:
        """In-transaction hook: remembers the new local joins of a replacement room."""
        del txn
        joins: list[StoredEvent] = []
        predecessor: str | None = None
        seen: dict[str, str | None] = {}
        snapshot = None
        for stored in stored_events:
            pdu = stored.pdu
            if stored.rejected_reason is not None or pdu.state_key is None:
                continue
            if pdu.type == "m.room.create" and pdu.state_key == "":
                predecessor = _predecessor(pdu.content)
            if pdu.type != "m.room.member" or not pdu.state_key.endswith(self._local_suffix):
                continue
            if pdu.state_key not in seen:
                # The cache still holds the room as it was before this batch.
                snapshot = snapshot or await self._cache.room(pdu.room_id)
                seen[pdu.state_key] = snapshot.membership_of(pdu.state_key) if snapshot else None
            if pdu.membership == "join" and seen[pdu.state_key] != "join":
                joins.append(stored)
            seen[pdu.state_key] = pdu.membership
        if not joins:
            return
        if predecessor is None and snapshot is not None:
            create_id = snapshot.state.get(("m.room.create", ""))
            create = await self._cache.event(create_id) if create_id else None
            if create is not None:
                predecessor = _predecessor(create.pdu.content)
        if predecessor is None:
            return
        for stored in joins:
            self._pending[stored.pdu.event_id] = _Carry(
                stored.pdu.state_key or "", predecessor, stored.pdu.room_id
            )
        while len(self._pending) > _MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))

    async def after_commit(self, stored_events: Sequence[StoredEvent]) -> None:
        """After-commit hook: makes the copies of the committed joins."""
        for stored in stored_events:
            carry = self._pending.pop(stored.pdu.event_id, None)
            if carry is None:
                continue
            try:
                await self.carry_over(carry.user_id, carry.old_room_id, carry.new_room_id)
            except Exception:
                logger.exception(
                    "could not copy %s's settings from %s to %s",
                    carry.user_id,
                    carry.old_room_id,
                    carry.new_room_id,
                )

    async def carry_over(self, user_id: str, old_room_id: str, new_room_id: str) -> None:
        """Copies the user's push rules, tags and ``m.direct`` entry of the old room."""
        if old_room_id == new_room_id:
            return
        await self._rules.copy_room_rules(user_id, old_room_id, new_room_id)
        await self._tags.copy_tags(user_id, old_room_id, new_room_id)
        await self._copy_direct(user_id, old_room_id, new_room_id)

    async def _copy_direct(self, user_id: str, old_room_id: str, new_room_id: str) -> None:
        try:
            direct = await self._account_data.get(
                Requester(user_id=user_id, device_id=None), user_id, None, DIRECT
            )
        except NotFound:
            return
        for partner, room_ids in direct.items():
            if (
                isinstance(room_ids, list)
                and old_room_id in room_ids
                and new_room_id not in room_ids
            ):
                content = {**direct, partner: [*room_ids, new_room_id]}
                await self._account_data.put_internal(user_id, None, DIRECT, content)
                return
