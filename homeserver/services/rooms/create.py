"""``POST /createRoom``: a new room's initial events, built and persisted at once.

The events follow the spec's order: create, the creator's join, power
levels, canonical alias, the preset's join rules / history visibility /
guest access (skipped where ``initial_state`` sets the same key),
``initial_state``, name, topic, invites. Each is built on the state left by
the ones before it and checked by the auth rules, all in memory; the whole
room, its alias and its directory visibility then commit in one transaction,
so a failure leaves no half-created room.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from signedjson.types import SigningKey

from homeserver.core.errors import (
    BadJson,
    Codes,
    Forbidden,
    InvalidIdentifier,
    InvalidParam,
    MatrixError,
    UnsupportedRoomVersion,
)
from homeserver.core.events import PDU, StateKey
from homeserver.core.ids import parse_user_id, server_name_of
from homeserver.core.room_versions import SUPPORTED_ROOM_VERSIONS, RoomVersion
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.services.rooms.build import build_local_event
from homeserver.services.rooms.invite_permission import invites_blocked
from homeserver.services.rooms.persist import EventPersister, NewEvent, NewRoom
from homeserver.services.rooms.send import check_power_levels_content
from homeserver.services.rooms.stripped import UNSIGNED_KEY, stripped_state
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.profiles import ProfileStore
from homeserver.storage.stores.rooms import RoomStore

JsonDict = dict[str, Any]

PRESETS = ("private_chat", "trusted_private_chat", "public_chat")
_ROOM_ID_CHARS = string.ascii_letters
_FORBIDDEN_ALIAS_CHARS = set(":#\x00") | set(string.whitespace)


@dataclass(frozen=True, slots=True)
class InitialStateEvent:
    type: str
    state_key: str
    content: JsonDict


@dataclass(frozen=True, slots=True)
class CreateRoomRequest:
    """The ``/createRoom`` body, checked."""

    visibility: str = "private"
    room_alias_name: str | None = None
    name: str | None = None
    topic: str | None = None
    invite: tuple[str, ...] = ()
    room_version: str | None = None
    creation_content: JsonDict = field(default_factory=dict)
    initial_state: tuple[InitialStateEvent, ...] = ()
    preset: str | None = None
    is_direct: bool = False
    power_level_content_override: JsonDict | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> CreateRoomRequest:
        """Checks the body's types.

        Raises:
            BadJson: a field has the wrong type or value.
            InvalidParam: an invitee is not a user id.
        """
        visibility = _opt(body, "visibility", str) or "private"
        if visibility not in ("public", "private"):
            raise BadJson("'visibility' must be 'public' or 'private'")
        preset = _opt(body, "preset", str)
        if preset is not None and preset not in PRESETS:
            raise BadJson(f"'preset' must be one of {', '.join(PRESETS)}")
        invite_raw = _opt(body, "invite", list) or []
        invite: list[str] = []
        for user_id in invite_raw:
            if not isinstance(user_id, str):
                raise BadJson("'invite' must be a list of user ids")
            try:
                invite.append(parse_user_id(user_id, strict=False))
            except InvalidIdentifier as e:
                raise InvalidParam(f"Invalid user id to invite: {user_id!r}") from e
        if _opt(body, "invite_3pid", list):
            raise MatrixError("Third party invites are not supported", code=Codes.UNKNOWN)
        initial: list[InitialStateEvent] = []
        for item in _opt(body, "initial_state", list) or []:
            if not isinstance(item, dict):
                raise BadJson("'initial_state' entries must be objects")
            event_type, state_key = item.get("type"), item.get("state_key", "")
            content = item.get("content")
            if not isinstance(event_type, str) or not isinstance(state_key, str):
                raise BadJson("'initial_state' entries need a string 'type' and 'state_key'")
            if not isinstance(content, dict):
                raise BadJson("'initial_state' entries need an object 'content'")
            if event_type in ("m.room.create", "m.room.member"):
                raise BadJson(f"{event_type} cannot be part of 'initial_state'")
            initial.append(InitialStateEvent(event_type, state_key, content))
        is_direct = body.get("is_direct", False)
        if not isinstance(is_direct, bool):
            raise BadJson("'is_direct' must be a boolean")
        return cls(
            visibility=visibility,
            room_alias_name=_opt(body, "room_alias_name", str),
            name=_opt(body, "name", str),
            topic=_opt(body, "topic", str),
            invite=tuple(dict.fromkeys(invite)),
            room_version=_opt(body, "room_version", str),
            creation_content=_opt(body, "creation_content", dict) or {},
            initial_state=tuple(initial),
            preset=preset,
            is_direct=is_direct,
            power_level_content_override=_opt(body, "power_level_content_override", dict),
        )


def _opt(body: Mapping[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise BadJson(f"'{key}' must be of type {kind.__name__}")
    return value


def default_power_levels(
    room_version: RoomVersion, creator: str, preset: str, invitees: tuple[str, ...]
) -> JsonDict:
    """The power levels createRoom sends before applying the override."""
    users: JsonDict = {}
    if not room_version.privileged_creators:
        users[creator] = 100
        if preset == "trusted_private_chat":
            users.update(dict.fromkeys(invitees, 100))
    return {
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            # v12: must be above state_default and the creators' old level.
            "m.room.tombstone": 150 if room_version.privileged_creators else 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
            # Group calls (MatrixRTC): every member may join a call; the
            # membership state is otherwise at state_default (50).
            "m.call.member": 0,
            "org.matrix.msc3401.call.member": 0,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 50 if preset == "public_chat" else 0,
        "notifications": {"room": 50},
    }


class RoomCreator:
    """Creates rooms for local users."""

    def __init__(
        self,
        db: Database,
        rooms: RoomStore,
        profiles: ProfileStore,
        persister: EventPersister,
        clock: Clock,
        server_name: str,
        signing_key: SigningKey,
        default_room_version: str,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._profiles = profiles
        self._persister = persister
        self._clock = clock
        self._server_name = server_name
        self._signing_key = signing_key
        self._default_room_version = default_room_version
        #: may the requester create this local alias? Each raises a
        #: MatrixError when not (application services' exclusive namespaces)
        self.alias_checks: list[Callable[[Requester, str], None]] = []

    async def create_room(
        self, requester: Requester, request: CreateRoomRequest
    ) -> tuple[str, str | None]:
        """Creates the room; returns ``(room_id, room_alias or None)``.

        Raises:
            UnsupportedRoomVersion: the version is not one we create.
            MatrixError: M_ROOM_IN_USE (alias taken), M_EXCLUSIVE (alias
                reserved by an application service), M_INVALID_ROOM_STATE
                (the requested state breaks the auth rules).
            BadJson, InvalidParam: malformed fields.
        """
        creator = requester.user_id
        version_id = request.room_version or self._default_room_version
        rv = SUPPORTED_ROOM_VERSIONS.get(version_id)
        if rv is None:
            raise UnsupportedRoomVersion(f"Room version {version_id!r} is not supported")
        alias = self._alias(request.room_alias_name)
        if alias is not None:
            for check in self.alias_checks:
                check(requester, alias)
            async with self._db.read() as conn:
                if await self._rooms.get_alias(conn, alias) is not None:
                    raise MatrixError("Room alias already taken", code=Codes.ROOM_IN_USE)
        for invitee in request.invite:
            if server_name_of(invitee) != self._server_name:
                raise MatrixError(
                    "Inviting users on other servers is not supported yet",
                    code=Codes.UNKNOWN,
                    status=502,
                )
        if request.invite and not requester.is_admin:
            # Spec v1.18: an invitee who blocks invites is left out; the room
            # is created all the same.
            allowed = [u for u in request.invite if not await invites_blocked(self._db, u)]
            if len(allowed) != len(request.invite):
                request = replace(request, invite=tuple(allowed))
        preset = request.preset or (
            "public_chat" if request.visibility == "public" else "private_chat"
        )
        if request.power_level_content_override is not None:
            check_power_levels_content(request.power_level_content_override, rv)

        builder = _RoomBuilder(self, rv, creator)
        try:
            await self._build_events(builder, request, preset, alias)
        except Forbidden as e:
            raise MatrixError(
                f"The requested room state is not allowed: {e.message}",
                code=Codes.INVALID_ROOM_STATE,
            ) from e

        async def write_alias(txn: Connection) -> None:
            if alias is not None and not await self._rooms.create_alias(
                txn, alias, builder.room_id, creator, self._clock.time_ms()
            ):
                raise MatrixError("Room alias already taken", code=Codes.ROOM_IN_USE)

        await self._persister.persist(
            None,
            [NewEvent(pdu) for pdu in builder.events],
            new_room=NewRoom(
                builder.room_id, rv.identifier, creator, is_public=request.visibility == "public"
            ),
            extra_writes=write_alias,
        )
        return builder.room_id, alias

    async def _build_events(
        self, b: _RoomBuilder, request: CreateRoomRequest, preset: str, alias: str | None
    ) -> None:
        rv, creator = b.room_version, b.creator
        create_content = dict(request.creation_content)
        create_content["room_version"] = rv.identifier
        if not rv.implicit_room_creator:
            create_content["creator"] = creator
        if rv.privileged_creators and "additional_creators" in create_content:
            _check_additional_creators(create_content["additional_creators"])
        if rv.privileged_creators and preset == "trusted_private_chat" and request.invite:
            extra = create_content.get("additional_creators", [])
            if not isinstance(extra, list):
                raise BadJson("'additional_creators' must be a list of user ids")
            create_content["additional_creators"] = list(dict.fromkeys([*extra, *request.invite]))
        b.add("m.room.create", "", create_content)
        await b.add_member(creator, "join", creator)

        power_levels = default_power_levels(rv, creator, preset, request.invite)
        power_levels.update(request.power_level_content_override or {})
        b.add("m.room.power_levels", "", power_levels)
        if alias is not None:
            b.add("m.room.canonical_alias", "", {"alias": alias})

        overridden = {(e.type, e.state_key) for e in request.initial_state}
        preset_state: list[tuple[str, JsonDict]] = [
            ("m.room.join_rules", {"join_rule": "public" if preset == "public_chat" else "invite"}),
            ("m.room.history_visibility", {"history_visibility": "shared"}),
        ]
        if preset != "public_chat":
            preset_state.append(("m.room.guest_access", {"guest_access": "can_join"}))
        for event_type, content in preset_state:
            if (event_type, "") not in overridden:
                b.add(event_type, "", content)
        for event in request.initial_state:
            b.add(event.type, event.state_key, event.content)
        if request.name is not None:
            b.add("m.room.name", "", {"name": request.name})
        if request.topic is not None:
            # MSC3765 / v1.15 rich topics: the plain text also as an
            # ``m.topic`` text block (no mimetype: text/plain), as Synapse does.
            topic = {"topic": request.topic, "m.topic": {"m.text": [{"body": request.topic}]}}
            b.add("m.room.topic", "", topic)
        for invitee in request.invite:
            extra = {"is_direct": True} if request.is_direct else {}
            await b.add_member(invitee, "invite", creator, extra)

    def _alias(self, localpart: str | None) -> str | None:
        if localpart is None:
            return None
        if not localpart or _FORBIDDEN_ALIAS_CHARS & set(localpart):
            raise InvalidParam("Invalid characters in room alias name")
        alias = f"#{localpart}:{self._server_name}"
        if len(alias.encode()) > 255:
            raise InvalidParam("Room alias is too long")
        return alias

    def _new_room_id(self) -> str:
        localpart = "".join(secrets.choice(_ROOM_ID_CHARS) for _ in range(18))
        return f"!{localpart}:{self._server_name}"

    async def profile_content(self, user_id: str) -> JsonDict:
        """displayname/avatar_url of a local user, for member event content."""
        async with self._db.read() as conn:
            profile = await self._profiles.get(conn, user_id)
        return profile.member_content() if profile is not None else {}


def _check_additional_creators(value: Any) -> None:
    """v12 ``additional_creators``: a list of user ids with valid server names
    (400 M_BAD_JSON otherwise, as Synapse checks them)."""
    if not isinstance(value, list):
        raise BadJson("'additional_creators' must be a list of user ids")
    for user_id in value:
        if not isinstance(user_id, str) or len(user_id.encode()) > 255:
            raise BadJson("'additional_creators' must be a list of user ids")
        try:
            parse_user_id(user_id, strict=False)
        except InvalidIdentifier as e:
            raise BadJson(f"Invalid user id in 'additional_creators': {user_id!r}") from e


class _RoomBuilder:
    """Chains a new room's events in memory, each on the state before it."""

    def __init__(
        self, creator_service: RoomCreator, room_version: RoomVersion, creator: str
    ) -> None:
        self._svc = creator_service
        self.room_version = room_version
        self.creator = creator
        self.room_id = (
            "" if room_version.room_id_from_create_event else creator_service._new_room_id()
        )
        self.events: list[PDU] = []
        self.state: dict[StateKey, PDU] = {}
        self._now = creator_service._clock.time_ms()

    def add(
        self,
        event_type: str,
        state_key: str,
        content: Mapping[str, Any],
        sender: str | None = None,
        unsigned: Mapping[str, Any] | None = None,
    ) -> PDU:
        is_create = event_type == "m.room.create"
        extra_unsigned = dict(unsigned or {})
        if (event_type, state_key) in self.state:
            extra_unsigned["replaces_state"] = self.state[(event_type, state_key)].event_id
        pdu = build_local_event(
            room_version=self.room_version,
            room_id=None if is_create and not self.room_id else self.room_id,
            sender=sender or self.creator,
            event_type=event_type,
            content=content,
            state_key=state_key,
            prev_events=[self.events[-1].event_id] if self.events else [],
            depth=len(self.events) + 1,
            auth_state=self.state,
            now_ms=self._now,
            server_name=self._svc._server_name,
            signing_key=self._svc._signing_key,
            unsigned=extra_unsigned or None,
        )
        if is_create and not self.room_id:
            self.room_id = pdu.room_id
        self.events.append(pdu)
        self.state[(event_type, state_key)] = pdu
        return pdu

    async def add_member(
        self, target: str, membership: str, sender: str, extra: Mapping[str, Any] | None = None
    ) -> PDU:
        content: JsonDict = {"membership": membership}
        content.update(await self._svc.profile_content(target))
        content.update(extra or {})
        unsigned_key = UNSIGNED_KEY.get(membership)
        unsigned = (
            {unsigned_key: stripped_state(self.state, membership, sender)}
            if unsigned_key is not None
            else None
        )
        return self.add("m.room.member", target, content, sender, unsigned)
