"""``GET /room_summary/{roomIdOrAlias}`` (MSC3266): a room's summary, before joining.

A room is summarised when the requester may see it, following the spec's
"accessible" rules (the same as the space hierarchy's):

- anyone (even without an access token): join rule ``public``, ``knock``
  or ``knock_restricted``, or history visibility ``world_readable``;
- a signed-in user besides: any membership other than ``leave`` (joined,
  invited or knocking), and a ``restricted`` / ``knock_restricted``
  room whose allowed rooms they are joined to.

Anything else, and rooms this server does not know (remote summaries need
federation), is 404, so the answer tells nothing about rooms one may not see.
"""

from __future__ import annotations

from typing import Any

from homeserver.core.auth import join_rule_in
from homeserver.core.errors import NotFound
from homeserver.core.events import PDU, StateKey
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.cache import RoomSnapshot
from homeserver.services.rooms.directory import DirectoryService, room_summary

JsonDict = dict[str, Any]

_JOIN_RULES: StateKey = ("m.room.join_rules", "")
_HISTORY: StateKey = ("m.room.history_visibility", "")


def allowed_room_ids(state: dict[StateKey, PDU]) -> list[str]:
    """The room ids a restricted join rule names (``m.room_membership`` entries)."""
    join_rules = state.get(_JOIN_RULES)
    allow = join_rules.content.get("allow") if join_rules is not None else None
    out: list[str] = []
    for entry in allow if isinstance(allow, list) else []:
        if isinstance(entry, dict) and entry.get("type") == "m.room_membership":
            room_id = entry.get("room_id")
            if isinstance(room_id, str) and room_id not in out:
                out.append(room_id)
    return out


class RoomSummaryService:
    def __init__(self, rooms: Rooms, directory: DirectoryService) -> None:
        self._rooms = rooms
        self._directory = directory

    async def summary(self, requester: Requester | None, room_id_or_alias: str) -> JsonDict:
        """The room's summary, with the requester's ``membership`` when signed in.

        Raises:
            InvalidParam: a malformed alias.
            NotFound: unknown room or alias, or a room the requester may not see.
        """
        if room_id_or_alias.startswith("#"):
            room_id = (await self._directory.resolve_alias(room_id_or_alias))["room_id"]
        else:
            room_id = room_id_or_alias
        snapshot = await self._rooms.cache.room(room_id)
        if snapshot is None:
            raise NotFound("Room not found")
        state = await self._rooms.cache.state_pdus(snapshot.state, [_JOIN_RULES, _HISTORY])
        user_id = requester.user_id if requester is not None else None
        if not await self._accessible(user_id, snapshot, state):
            raise NotFound("Room not found")
        out = await room_summary(self._rooms, snapshot)
        rule = join_rule_in(state)
        if rule in ("restricted", "knock_restricted"):
            out["allowed_room_ids"] = allowed_room_ids(state)
        if user_id is not None:
            membership = snapshot.membership_of(user_id)
            out["membership"] = membership or "leave"
        return out

    async def _accessible(
        self, user_id: str | None, snapshot: RoomSnapshot, state: dict[StateKey, PDU]
    ) -> bool:
        rv = snapshot.room_version
        history = state.get(_HISTORY)
        if history is not None and history.content.get("history_visibility") == "world_readable":
            return True
        rule = join_rule_in(state)
        if rule == "public" or (rule == "knock" and rv.knock_join_rule):
            return True
        if rule == "knock_restricted" and rv.knock_restricted_join_rule:
            return True
        if user_id is None:
            return False
        if snapshot.membership_of(user_id) in ("join", "invite", "knock"):
            return True
        if rule == "restricted" and rv.restricted_join_rule:
            for allowed in allowed_room_ids(state):
                other = await self._rooms.cache.room(allowed)
                if other is not None and other.membership_of(user_id) == "join":
                    return True
        return False
