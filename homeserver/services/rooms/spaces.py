"""``GET /rooms/{roomId}/hierarchy``: walking a space's ``m.space.child`` tree.

The walk is depth first from the requested room. Only spaces (create
content ``type: m.space``) have children: the ``m.space.child`` events of
any other room are neither listed nor followed. A child counts only when
its ``m.space.child`` content has a non-empty ``via`` list (and, with
``suggested_only``, ``suggested: true``); children are visited in the
spec's order: ``order`` (when a valid string), then the child event's
``origin_server_ts``, then the room id. A room is listed when the user may
see it, following the spec's "accessible" rules: joined or invited, a
``world_readable`` room, a public or knockable room, or a restricted room
whose allowed rooms the user is joined to. Rooms this server does not know
need federation and are left out. Rooms deeper than ``max_depth`` are not
visited; cycles are cut by visiting each room once.

The token is the offset into the walk plus the walk's parameters, so a
changed ``suggested_only``/``max_depth`` is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.core.auth import join_rule_in
from homeserver.core.errors import Forbidden, InvalidParam
from homeserver.core.events import PDU, StateKey
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.cache import RoomSnapshot
from homeserver.services.rooms.directory import room_summary

JsonDict = dict[str, Any]

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
DEFAULT_MAX_DEPTH = 10
MAX_DEPTH = 50
#: The walk stops after this many rooms (resource bound).
MAX_ROOMS = 1000
SPACE_ROOM_TYPE = "m.space"


@dataclass(frozen=True, slots=True)
class HierarchyQuery:
    suggested_only: bool = False
    max_depth: int | None = None
    limit: int | None = None
    from_token: str | None = None


def _order_key(pdu: PDU) -> tuple[int, str, int, str]:
    order = pdu.content.get("order")
    if not (
        isinstance(order, str)
        and 0 < len(order) <= 50
        and all(0x20 <= ord(c) <= 0x7E for c in order)
    ):
        return (1, "", pdu.origin_server_ts, pdu.state_key or "")
    return (0, order, pdu.origin_server_ts, pdu.state_key or "")


def _is_child(pdu: PDU, suggested_only: bool) -> bool:
    via = pdu.content.get("via")
    if not isinstance(via, list) or not via or not all(isinstance(v, str) for v in via):
        return False
    return not suggested_only or pdu.content.get("suggested") is True


def _stripped(pdu: PDU) -> JsonDict:
    return {
        "type": pdu.type,
        "state_key": pdu.state_key,
        "content": dict(pdu.content),
        "sender": pdu.sender,
        "origin_server_ts": pdu.origin_server_ts,
    }


class SpaceHierarchy:
    def __init__(self, rooms: Rooms) -> None:
        self._rooms = rooms

    async def hierarchy(
        self, requester: Requester, room_id: str, query: HierarchyQuery
    ) -> JsonDict:
        """A page of the space tree under ``room_id``.

        Raises:
            InvalidParam: bad limit/max_depth, a malformed token, or a token
                from a walk with other parameters.
            Forbidden: the user may not see the requested room.
        """
        limit = DEFAULT_LIMIT if query.limit is None else query.limit
        if limit < 1:
            raise InvalidParam("'limit' must be greater than zero")
        limit = min(limit, MAX_LIMIT)
        max_depth = DEFAULT_MAX_DEPTH if query.max_depth is None else query.max_depth
        if max_depth < 0:
            raise InvalidParam("'max_depth' must not be negative")
        max_depth = min(max_depth, MAX_DEPTH)
        offset = self._parse_token(query.from_token, query.suggested_only, max_depth)

        root = await self._rooms.cache.room(room_id)
        if root is None or not await self._accessible(requester.user_id, root):
            raise Forbidden("You may not view this room")
        walked = await self._walk(requester.user_id, root, query.suggested_only, max_depth)
        page = walked[offset : offset + limit]
        out: JsonDict = {"rooms": page}
        if offset + limit < len(walked):
            flag = "1" if query.suggested_only else "0"
            out["next_batch"] = f"h{offset + limit}_{flag}_{max_depth}"
        return out

    def _parse_token(self, token: str | None, suggested_only: bool, max_depth: int) -> int:
        if token is None:
            return 0
        parts = token[1:].split("_") if token.startswith("h") else []
        if len(parts) != 3 or not all(p.isdigit() and len(p) <= 9 for p in parts):
            raise InvalidParam("Invalid 'from' token")
        offset, flag, depth = (int(p) for p in parts)
        if flag != int(suggested_only) or depth != max_depth:
            raise InvalidParam("'suggested_only' and 'max_depth' cannot change while paginating")
        return offset

    async def _walk(
        self, user_id: str, root: RoomSnapshot, suggested_only: bool, max_depth: int
    ) -> list[JsonDict]:
        out: list[JsonDict] = []
        seen = {root.room_id}
        stack: list[tuple[RoomSnapshot, int]] = [(root, 0)]
        while stack and len(out) < MAX_ROOMS:
            snapshot, depth = stack.pop()
            chunk = await room_summary(self._rooms, snapshot)
            # Only spaces have children: a room's m.space.child events are
            # not followed (nor listed), as Synapse does.
            children: list[PDU] = []
            if chunk.get("room_type") == SPACE_ROOM_TYPE:
                children = await self._children(snapshot, suggested_only)
            chunk["children_state"] = [_stripped(c) for c in children]
            out.append(chunk)
            if depth >= max_depth:
                continue
            next_rooms: list[tuple[RoomSnapshot, int]] = []
            for child in children:
                child_id = child.state_key or ""
                if child_id in seen:
                    continue
                seen.add(child_id)
                child_snapshot = await self._rooms.cache.room(child_id)
                if child_snapshot is None or not await self._accessible(user_id, child_snapshot):
                    continue
                next_rooms.append((child_snapshot, depth + 1))
            # Depth first, in child order: the first child is popped next.
            stack.extend(reversed(next_rooms))
        return out

    async def _children(self, snapshot: RoomSnapshot, suggested_only: bool) -> list[PDU]:
        keys: list[StateKey] = [k for k in snapshot.state if k[0] == "m.space.child"]
        pdus = await self._rooms.cache.state_pdus(snapshot.state, keys)
        children = [p for p in pdus.values() if _is_child(p, suggested_only)]
        return sorted(children, key=_order_key)

    async def _accessible(self, user_id: str, snapshot: RoomSnapshot) -> bool:
        if snapshot.membership_of(user_id) in ("join", "invite"):
            return True
        rv = snapshot.room_version
        state = await self._rooms.cache.state_pdus(
            snapshot.state, [("m.room.join_rules", ""), ("m.room.history_visibility", "")]
        )
        history = state.get(("m.room.history_visibility", ""))
        if history is not None and history.content.get("history_visibility") == "world_readable":
            return True
        rule = join_rule_in(state)
        if rule == "public" or (rule == "knock" and rv.knock_join_rule):
            return True
        if rule == "knock_restricted" and rv.knock_restricted_join_rule:
            return True
        if rule == "restricted" and rv.restricted_join_rule:
            join_rules = state.get(("m.room.join_rules", ""))
            allow = join_rules.content.get("allow") if join_rules is not None else None
            for entry in allow if isinstance(allow, list) else []:
                if not isinstance(entry, dict) or entry.get("type") != "m.room_membership":
                    continue
                allowed = entry.get("room_id")
                other = await self._rooms.cache.room(allowed) if isinstance(allowed, str) else None
                if other is not None and other.membership_of(user_id) == "join":
                    return True
        return False
