"""``POST /rooms/{roomId}/upgrade``: replacing a room with one of a new version.

The steps follow the spec's "server behaviour" for room upgrades:

1. check that the user may send ``m.room.tombstone`` in the old room;
2. create the new room (``RoomCreator``) with ``predecessor`` in its create
   content, the old room's type, and a copy of its name, topic, avatar, join
   rules, history visibility, guest access, encryption, server ACL,
   canonical alias and power levels; restricted join rules that allowed
   members of the old room now allow members of the new one, and the old
   room's bans are copied. When the upgrader's level is too low to send
   that initial state, the copied power levels raise them for the creation
   and the original levels are sent right after;
3. send the tombstone in the old room;
4. move the local aliases to the new room and clear the old room's
   canonical alias; a published old room is replaced in the directory;
5. restrict the old room: ``events_default`` and ``invite`` are raised to
   at least ``max(50, users_default + 1)``.

Steps after the tombstone are best effort: a failure there is logged, the
upgrade still succeeded. Local users' push rules, tags and ``m.direct``
entry of the old room follow them as they join the new one (the upgrader
at once): ``services/rooms/carry_over.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from homeserver.core.auth import PowerLevels, parse_level
from homeserver.core.auth.power import DEFAULT_LEVELS, LEVEL_KEYS, room_creators
from homeserver.core.errors import (
    BadJson,
    Forbidden,
    InvalidIdentifier,
    MatrixError,
    NotFound,
    UnsupportedRoomVersion,
)
from homeserver.core.events import PDU, StateKey
from homeserver.core.ids import parse_user_id
from homeserver.core.room_versions import SUPPORTED_ROOM_VERSIONS, RoomVersion
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.create import CreateRoomRequest, InitialStateEvent
from homeserver.services.rooms.directory import DirectoryService
from homeserver.storage.db import Database
from homeserver.storage.stores.directory import DirectoryStore

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: State copied into the new room, in this order.
COPIED_STATE: tuple[str, ...] = (
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.name",
    "m.room.topic",
    "m.room.avatar",
    "m.room.encryption",
    "m.room.server_acl",
    "m.room.canonical_alias",
)
POWER_KEY: StateKey = ("m.room.power_levels", "")
CREATE_KEY: StateKey = ("m.room.create", "")


def _normalise_levels(content: Mapping[str, Any], old: RoomVersion) -> JsonDict:
    """The power levels content with every level an integer (old room
    versions allowed integer strings) and every single level explicit."""
    out: JsonDict = {}
    for key in LEVEL_KEYS:
        level = parse_level(content.get(key), old) if key in content else None
        out[key] = level if level is not None else DEFAULT_LEVELS[key]
    for key in ("users", "events", "notifications"):
        value = content.get(key)
        levels: JsonDict = {}
        if isinstance(value, dict):
            for name, raw in value.items():
                level = parse_level(raw, old)
                if level is not None:
                    levels[name] = level
        out[key] = levels
    return out


class RoomUpgrader:
    def __init__(
        self, db: Database, rooms: Rooms, directory: DirectoryService, store: DirectoryStore
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._directory = directory
        self._store = store

    async def upgrade(
        self,
        requester: Requester,
        room_id: str,
        new_version: str,
        additional_creators: Sequence[Any] = (),
    ) -> str:
        """Upgrades the room; returns the replacement room's id.

        Raises:
            UnsupportedRoomVersion: unknown ``new_version``.
            NotFound: unknown room.
            Forbidden: not joined, or may not send ``m.room.tombstone``.
            BadJson / InvalidParam: malformed ``additional_creators``.
        """
        new_rv = SUPPORTED_ROOM_VERSIONS.get(new_version)
        if new_rv is None:
            raise UnsupportedRoomVersion(f"Room version {new_version!r} is not supported")
        extra_creators = self._additional_creators(additional_creators)
        user_id = requester.user_id
        snapshot = await self._rooms.cache.room(room_id)
        if snapshot is None:
            raise NotFound("Unknown room")
        if snapshot.membership_of(user_id) != "join":
            raise Forbidden("You are not in this room")
        if ("m.room.tombstone", "") in snapshot.state:
            raise Forbidden("This room has already been replaced")
        old_rv = snapshot.room_version
        state_keys = [(t, "") for t in COPIED_STATE] + [CREATE_KEY, POWER_KEY]
        state = await self._rooms.cache.state_pdus(dict(snapshot.state), state_keys)
        power = PowerLevels.from_state(old_rv, state)
        if power.user_level(user_id) < power.event_level("m.room.tombstone", True):
            raise Forbidden("You may not upgrade this room")

        request, final_levels = self._new_room_request(
            user_id, room_id, snapshot.extremities, state, old_rv, new_rv, extra_creators
        )
        async with self._db.read() as conn:
            row = await self._rooms.rooms_store.get_room(conn, room_id)
        is_public = row is not None and row.is_public
        if is_public:
            request = replace(request, visibility="public")
        new_room_id, _ = await self._rooms.create.create_room(requester, request)
        # Before the final power levels: the upgrader may only be raised now.
        await self._point_allow_list_at(user_id, room_id, new_room_id, state)
        await self._copy_bans(user_id, new_room_id, snapshot.state)
        if final_levels is not None:
            await self._rooms.send.send(
                user_id, new_room_id, "m.room.power_levels", final_levels, state_key=""
            )

        await self._rooms.send.send(
            user_id,
            room_id,
            "m.room.tombstone",
            {"body": "This room has been replaced", "replacement_room": new_room_id},
            state_key="",
        )
        logger.info("room %s upgraded to %s (%s)", room_id, new_room_id, new_version)
        await self._after_tombstone(user_id, room_id, new_room_id, state, is_public)
        return new_room_id

    async def _point_allow_list_at(
        self, user_id: str, room_id: str, new_room_id: str, state: Mapping[StateKey, PDU]
    ) -> None:
        """Restricted join rules that allow members of the old room now allow
        members of the new one (as Synapse does)."""
        join_rules = state.get(("m.room.join_rules", ""))
        allow = join_rules.content.get("allow") if join_rules is not None else None
        if join_rules is None or not isinstance(allow, list):
            return
        changed = False
        new_allow: list[Any] = []
        for entry in allow:
            if isinstance(entry, dict) and entry.get("room_id") == room_id:
                entry = {**entry, "room_id": new_room_id}
                changed = True
            new_allow.append(entry)
        if changed:
            content = {**join_rules.content, "allow": new_allow}
            await self._best_effort(user_id, new_room_id, "m.room.join_rules", content)

    async def _copy_bans(
        self, user_id: str, new_room_id: str, old_state: Mapping[StateKey, str]
    ) -> None:
        """Bans carry over to the new room (with their reason); other
        memberships do not (the spec's list; Synapse copies bans too)."""
        keys = [key for key in old_state if key[0] == "m.room.member"]
        members = await self._rooms.cache.state_pdus(dict(old_state), keys)
        for (_, target), event in sorted(members.items()):
            if event.membership != "ban" or target == user_id:
                continue
            content: JsonDict = {"membership": "ban"}
            reason = event.content.get("reason")
            if isinstance(reason, str):
                content["reason"] = reason
            try:
                await self._rooms.send.send(
                    user_id, new_room_id, "m.room.member", content, state_key=target
                )
            except MatrixError as e:
                logger.info("upgrade to %s: could not ban %s: %s", new_room_id, target, e.message)

    def _additional_creators(self, raw: Sequence[Any]) -> list[str]:
        out: list[str] = []
        for user_id in raw:
            if not isinstance(user_id, str):
                raise BadJson("'additional_creators' must be a list of user ids")
            try:
                out.append(parse_user_id(user_id, strict=False))
            except InvalidIdentifier as e:
                raise BadJson(f"Invalid user id in 'additional_creators': {user_id!r}") from e
        return list(dict.fromkeys(out))

    def _new_room_request(
        self,
        user_id: str,
        room_id: str,
        extremities: Sequence[str],
        state: Mapping[StateKey, PDU],
        old_rv: RoomVersion,
        new_rv: RoomVersion,
        extra_creators: list[str],
    ) -> tuple[CreateRoomRequest, JsonDict | None]:
        """The createRoom request, and the power levels to send after it
        when the upgrader was raised for the creation (else None)."""
        create = state.get(CREATE_KEY)
        predecessor: JsonDict = {"room_id": room_id}
        if not new_rv.privileged_creators and extremities:
            predecessor["event_id"] = extremities[0]
        creation: JsonDict = {"predecessor": predecessor}
        if create is not None:
            for key in ("type", "m.federate"):
                if key in create.content:
                    creation[key] = create.content[key]
        new_creators = {user_id}
        if new_rv.privileged_creators:
            extra = [u for u in extra_creators if u != user_id]
            if extra:
                creation["additional_creators"] = extra
            new_creators.update(extra)

        old_power = PowerLevels.from_state(old_rv, state)
        pl_event = state.get(POWER_KEY)
        levels = _normalise_levels(pl_event.content if pl_event else {}, old_rv)
        if pl_event is None:
            levels["users"] = dict.fromkeys(room_creators(create), 100)
        elif old_rv.privileged_creators and not new_rv.privileged_creators:
            # The old creators' infinite power becomes an ordinary level.
            for creator in room_creators(create):
                levels["users"].setdefault(creator, 100)
        if new_rv.privileged_creators:
            # MSC4289: only the new room's creators have infinite power; the
            # old room's creators keep no level unless the old levels name them.
            for creator in new_creators:
                levels["users"].pop(creator, None)

        initial: list[InitialStateEvent] = []
        needed = levels["events"].get("m.room.power_levels", levels["state_default"])
        for event_type in COPIED_STATE:
            event = state.get((event_type, ""))
            if event is not None:
                initial.append(InitialStateEvent(event_type, "", dict(event.content)))
                needed = max(needed, levels["events"].get(event_type, levels["state_default"]))
        if state.get(("m.room.join_rules", "")) is None:
            initial.insert(0, InitialStateEvent("m.room.join_rules", "", {"join_rule": "invite"}))

        final: JsonDict | None = None
        if not new_rv.privileged_creators:
            old_level = old_power.user_level(user_id)
            if old_level == float("inf"):
                levels["users"][user_id] = max(100, needed)
            elif old_level < needed:
                final = {k: (dict(v) if isinstance(v, dict) else v) for k, v in levels.items()}
                levels["users"][user_id] = needed
        request = CreateRoomRequest(
            visibility="private",
            room_version=new_rv.identifier,
            creation_content=creation,
            initial_state=tuple(initial),
            preset="public_chat",
            power_level_content_override=levels,
        )
        return request, final

    async def _after_tombstone(
        self,
        user_id: str,
        room_id: str,
        new_room_id: str,
        state: Mapping[StateKey, PDU],
        is_public: bool,
    ) -> None:
        async with self._db.write() as txn:
            await self._store.move_aliases(txn, room_id, new_room_id)
            if is_public:
                await self._store.set_public(txn, room_id, False)
        if state.get(("m.room.canonical_alias", "")) is not None:
            await self._best_effort(user_id, room_id, "m.room.canonical_alias", {})
        pl_event = state.get(POWER_KEY)
        if pl_event is None:
            return
        snapshot = await self._rooms.cache.room(room_id)
        rv = snapshot.room_version if snapshot is not None else None
        if rv is None:
            return
        content = dict(pl_event.content)
        users_default = parse_level(content.get("users_default", 0), rv) or 0
        restricted = max(50, users_default + 1)
        changed = False
        for key, default in (("events_default", 0), ("invite", 0)):
            current = parse_level(content.get(key, default), rv)
            if current is None or current < restricted:
                content[key] = restricted
                changed = True
        if changed:
            await self._best_effort(user_id, room_id, "m.room.power_levels", content)

    async def _best_effort(
        self, user_id: str, room_id: str, event_type: str, content: JsonDict
    ) -> None:
        try:
            await self._rooms.send.send(user_id, room_id, event_type, content, state_key="")
        except MatrixError as e:
            logger.info("upgrade of %s: could not send %s: %s", room_id, event_type, e.message)
