"""Membership changes of local users: join, invite, leave, kick, ban, unban,
knock, forget; and the list of joined rooms.

Every change is an ``m.room.member`` event sent through
``EventSender.send``, so the auth rules decide; this module adds what they
cannot know: the member's profile in the content, restricted joins (v8+:
``join_authorised_via_users_server`` picked among our joined users who may
invite), and the spec's "nothing to do" cases (joining again with the same
profile, leaving a room already left).

Rooms on other servers need federation (make_join/send_join), which is not
wired yet: such joins fail with a clear 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from homeserver.core.auth import PowerLevels, join_rule_in
from homeserver.core.errors import (
    Codes,
    Forbidden,
    InvalidIdentifier,
    InvalidParam,
    MatrixError,
    NotFound,
)
from homeserver.core.events import PDU
from homeserver.core.ids import parse_room_alias, parse_room_id, parse_user_id, server_name_of
from homeserver.services.requester import Requester
from homeserver.services.rooms.cache import RoomCache, RoomSnapshot
from homeserver.services.rooms.invite_permission import InviteBlocked, invites_blocked
from homeserver.services.rooms.send import EventSender, Unchanged
from homeserver.services.rooms.stripped import UNSIGNED_KEY, stripped_state, stripped_state_keys
from homeserver.storage.db import Database
from homeserver.storage.stores.admin import AdminStore
from homeserver.storage.stores.events import EventStore
from homeserver.storage.stores.profiles import ProfileStore
from homeserver.storage.stores.rooms import RoomStore
from homeserver.storage.stores.state import StateStore

JsonDict = dict[str, Any]

_IN_ROOM = ("join", "invite", "knock")


#: member content keys a client may not set when joining: the server sets
#: them (restricted joins' authoriser, membership, reason from its own
#: field) or they are request parameters, not content
_SERVER_KEYS = frozenset(
    {"membership", "reason", "join_authorised_via_users_server", "third_party_signed"}
)


def _client_content(body: Mapping[str, Any] | None) -> JsonDict:
    """The keys of a join body that go into the member event's content."""
    return {k: v for k, v in (body or {}).items() if k not in _SERVER_KEYS}


class MembershipService:
    def __init__(
        self,
        db: Database,
        rooms: RoomStore,
        events: EventStore,
        state: StateStore,
        profiles: ProfileStore,
        cache: RoomCache,
        sender: EventSender,
        server_name: str,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._events = events
        self._state = state
        self._profiles = profiles
        self._cache = cache
        self._sender = sender
        self._server_name = server_name
        #: asked about unknown local aliases (application services); True: look again
        self.alias_resolvers: list[Callable[[str], Awaitable[bool]]] = []
        #: asked about unknown local invitees (application services, which may
        #: register them on demand); the answer only refreshes their profile
        self.user_resolvers: list[Callable[[str], Awaitable[bool]]] = []
        self._admin = AdminStore()

    # --- lookups ----------------------------------------------------------------

    async def resolve_room(self, room_id_or_alias: str) -> str:
        """A room id from a room id or a local alias.

        Raises:
            InvalidParam: neither a room id nor an alias.
            NotFound: unknown alias, or an alias on another server.
        """
        if room_id_or_alias.startswith("#"):
            try:
                alias = parse_room_alias(room_id_or_alias)
            except InvalidIdentifier as e:
                raise InvalidParam(f"Invalid room alias: {e}") from e
            async with self._db.read() as conn:
                room_id = await self._rooms.get_alias(conn, alias)
            if room_id is None and server_name_of(alias) == self._server_name:
                # An application service may create the room on demand.
                for resolver in self.alias_resolvers:
                    if await resolver(alias):
                        async with self._db.read() as conn:
                            room_id = await self._rooms.get_alias(conn, alias)
                        break
            if room_id is None:
                if server_name_of(alias) != self._server_name:
                    raise NotFound("Resolving aliases on other servers is not supported yet")
                raise NotFound(f"Room alias {alias} not found")
            return room_id
        try:
            return parse_room_id(room_id_or_alias)
        except InvalidIdentifier as e:
            raise InvalidParam(f"Invalid room id or alias: {e}") from e

    async def _refuse_blocked(self, room_id: str) -> None:
        """A server admin may block a room: local users can no longer join,
        knock on or be invited to it."""
        async with self._db.read() as conn:
            blocked_by = await self._admin.get_block(conn, room_id)
        if blocked_by is not None:
            raise Forbidden("This room has been blocked on this server")

    async def _known_room(self, room_id: str) -> RoomSnapshot:
        snapshot = await self._cache.room(room_id)
        if snapshot is None:
            # A v12 room id has no server name: unknown here, it may be anywhere.
            if ":" not in room_id or server_name_of(room_id) != self._server_name:
                raise NotFound("Joining rooms on other servers is not supported yet")
            raise NotFound(f"Unknown room {room_id}")
        return snapshot

    async def _profile(self, user_id: str) -> JsonDict:
        async with self._db.read() as conn:
            profile = await self._profiles.get(conn, user_id)
        return profile.member_content() if profile is not None else {}

    async def _invitee_profile(self, user_id: str) -> JsonDict:
        """The local invitee's profile, asking the user resolvers first when
        the user is unknown (no profile row)."""
        async with self._db.read() as conn:
            profile = await self._profiles.get(conn, user_id)
        if profile is None:
            for resolver in self.user_resolvers:
                if await resolver(user_id):
                    return await self._profile(user_id)
        return profile.member_content() if profile is not None else {}

    def _target(self, user_id: Any) -> str:
        if not isinstance(user_id, str):
            raise InvalidParam("'user_id' must be a user id")
        try:
            return parse_user_id(user_id, strict=False)
        except InvalidIdentifier as e:
            raise InvalidParam(f"Invalid user id: {e}") from e

    async def joined_rooms(self, requester: Requester) -> list[str]:
        async with self._db.read() as conn:
            rooms = await self._state.rooms_for_user(conn, requester.user_id, ("join",))
        return sorted(rooms)

    # --- changes ----------------------------------------------------------------

    async def _change(
        self,
        sender: str,
        room_id: str,
        target: str,
        membership: str,
        *,
        reason: str | None,
        extra: Mapping[str, Any] | None = None,
        check: Any = None,
    ) -> PDU:
        content: JsonDict = {"membership": membership, **(extra or {})}
        if reason is not None:
            content["reason"] = reason

        async def prepare(snapshot: RoomSnapshot) -> Mapping[str, Any] | None:
            result: Mapping[str, Any] | None = content
            if check is not None:
                result = await check(snapshot, content)
            await self._same_as_current(snapshot, sender, target, result or content)
            return result

        unsigned = None
        unsigned_key = UNSIGNED_KEY.get(membership)
        if unsigned_key is not None:

            async def unsigned(snapshot: RoomSnapshot) -> Mapping[str, Any]:
                keys = stripped_state_keys(membership, sender)
                state = await self._cache.state_pdus(snapshot.state, keys)
                return {unsigned_key: stripped_state(state, membership, sender)}

        return await self._sender.send(
            sender,
            room_id,
            "m.room.member",
            content,
            state_key=target,
            prepare=prepare,
            unsigned=unsigned,
        )

    async def _same_as_current(
        self, snapshot: RoomSnapshot, sender: str, target: str, content: Mapping[str, Any]
    ) -> None:
        """A repeat of the current member event (same sender, same content,
        e.g. a second identical invite) sends nothing: the spec asks for
        idempotent membership changes and Synapse returns the existing event.

        Raises:
            Unchanged: with the current event's id.
        """
        current_id = snapshot.state.get(("m.room.member", target))
        current = await self._cache.event(current_id) if current_id is not None else None
        if (
            current is not None
            and current.redacted_by is None
            and current.pdu.sender == sender
            and current.pdu.content == dict(content)
        ):
            raise Unchanged(current.pdu.event_id)

    async def join(
        self,
        requester: Requester,
        room_id_or_alias: str,
        reason: str | None = None,
        content: Mapping[str, Any] | None = None,
    ) -> str:
        """Joins a local room (by id or local alias); returns the room id.

        Args:
            content: the request body: its keys go into the member event
                (Synapse does the same), a ``displayname``/``avatar_url``
                there overriding the global profile; keys the server sets
                itself are ignored.
        """
        room_id = await self.resolve_room(room_id_or_alias)
        await self._refuse_blocked(room_id)
        snapshot = await self._known_room(room_id)
        if requester.is_guest:
            await self._check_guest_can_join(snapshot)
        user_id = requester.user_id
        profile = {**await self._profile(user_id), **_client_content(content)}

        async def check(snapshot: RoomSnapshot, content: JsonDict) -> Mapping[str, Any] | None:
            current = snapshot.membership_of(user_id)
            if current == "join" and reason is None:
                existing_id = snapshot.state.get(("m.room.member", user_id))
                existing = await self._cache.event(existing_id) if existing_id else None
                if existing is not None and existing.pdu.content == content:
                    raise Unchanged(existing.pdu.event_id)
            if current not in ("join", "invite"):
                authoriser = await self._restricted_join_authoriser(snapshot, user_id)
                if authoriser is not None:
                    return {**content, "join_authorised_via_users_server": authoriser}
            return content

        await self._change(
            user_id, room_id, user_id, "join", reason=reason, extra=profile, check=check
        )
        return room_id

    async def _check_guest_can_join(self, snapshot: RoomSnapshot) -> None:
        """Guests join only rooms whose ``m.room.guest_access`` is ``can_join``.

        Raises:
            MatrixError: 403 M_GUEST_ACCESS_FORBIDDEN otherwise.
        """
        key = ("m.room.guest_access", "")
        event = (await self._cache.state_pdus(snapshot.state, [key])).get(key)
        if event is None or event.content.get("guest_access") != "can_join":
            raise MatrixError("Guests may not join this room", code=Codes.GUEST_ACCESS_FORBIDDEN)

    async def _restricted_join_authoriser(self, snapshot: RoomSnapshot, user_id: str) -> str | None:
        """For a restricted room the user may join through an allowed room:
        a local joined member who may invite. None when the join rule is not
        restricted or the user is in none of the allowed rooms.

        Raises:
            MatrixError: M_UNABLE_TO_GRANT_JOIN when the user qualifies but no
                local member can authorise the join.
        """
        rv = snapshot.room_version
        state = await self._cache.state_pdus(
            snapshot.state,
            [("m.room.join_rules", ""), ("m.room.create", ""), ("m.room.power_levels", "")],
        )
        join_rule = join_rule_in(state)
        restricted = (join_rule == "restricted" and rv.restricted_join_rule) or (
            join_rule == "knock_restricted" and rv.knock_restricted_join_rule
        )
        if not restricted:
            return None
        join_rules = state.get(("m.room.join_rules", ""))
        allow = join_rules.content.get("allow") if join_rules is not None else None
        qualifies = False
        for entry in allow if isinstance(allow, list) else []:
            if not isinstance(entry, dict) or entry.get("type") != "m.room_membership":
                continue
            allowed_room = entry.get("room_id")
            if not isinstance(allowed_room, str):
                continue
            other = await self._cache.room(allowed_room)
            if other is not None and other.membership_of(user_id) == "join":
                qualifies = True
                break
        if not qualifies:
            return None
        power = PowerLevels.from_state(rv, state)
        candidates = [
            member
            for member, membership in snapshot.memberships.items()
            if membership == "join"
            and server_name_of(member) == self._server_name
            and power.user_level(member) >= power.invite
        ]
        if not candidates:
            raise MatrixError(
                "No local user can authorise this join", code=Codes.UNABLE_TO_GRANT_JOIN
            )
        # The most powerful one is the least likely to lose the right soon.
        return max(sorted(candidates), key=power.user_level)

    async def invite(
        self, requester: Requester, room_id: str, user_id: Any, reason: str | None = None
    ) -> None:
        target = self._target(user_id)
        if server_name_of(target) != self._server_name:
            raise MatrixError(
                "Inviting users on other servers is not supported yet",
                code=Codes.UNKNOWN,
                status=502,
            )
        await self._refuse_blocked(room_id)
        await self._known_room_or_forbidden(room_id)
        if not requester.is_admin and await invites_blocked(self._db, target):
            raise InviteBlocked()
        if requester.is_shadow_banned:
            return  # Synapse: the invite "succeeds" but is never sent.
        profile = await self._invitee_profile(target)
        await self._change(
            requester.user_id, room_id, target, "invite", reason=reason, extra=profile
        )

    async def leave(self, requester: Requester, room_id: str, reason: str | None = None) -> None:
        user_id = requester.user_id
        await self._known_room(room_id)

        async def check(snapshot: RoomSnapshot, content: JsonDict) -> Mapping[str, Any] | None:
            current = snapshot.membership_of(user_id)
            if current in ("leave", "ban"):
                existing_id = snapshot.state[("m.room.member", user_id)]
                raise Unchanged(existing_id)
            if current is None:
                raise Forbidden("You are not in this room")
            if current == "invite":
                async with self._db.read() as conn:
                    notices = await self._admin.is_notice_room(conn, room_id)
                if notices:
                    # As Synapse: joined members may leave, invitees may not reject.
                    raise MatrixError(
                        "You cannot reject this invite",
                        code=Codes.CANNOT_LEAVE_SERVER_NOTICE_ROOM,
                    )
            return content

        await self._change(user_id, room_id, user_id, "leave", reason=reason, check=check)

    async def kick(
        self, requester: Requester, room_id: str, user_id: Any, reason: str | None = None
    ) -> None:
        target = self._target(user_id)
        await self._known_room_or_forbidden(room_id)

        async def check(snapshot: RoomSnapshot, content: JsonDict) -> Mapping[str, Any] | None:
            if snapshot.membership_of(target) not in _IN_ROOM:
                raise Forbidden(f"{target} is not in the room")
            return content

        await self._change(requester.user_id, room_id, target, "leave", reason=reason, check=check)

    async def ban(
        self, requester: Requester, room_id: str, user_id: Any, reason: str | None = None
    ) -> None:
        target = self._target(user_id)
        await self._known_room_or_forbidden(room_id)
        await self._change(requester.user_id, room_id, target, "ban", reason=reason)

    async def unban(
        self, requester: Requester, room_id: str, user_id: Any, reason: str | None = None
    ) -> None:
        target = self._target(user_id)
        await self._known_room_or_forbidden(room_id)

        async def check(snapshot: RoomSnapshot, content: JsonDict) -> Mapping[str, Any] | None:
            if snapshot.membership_of(target) != "ban":
                raise Forbidden(f"{target} is not banned")
            return content

        await self._change(requester.user_id, room_id, target, "leave", reason=reason, check=check)

    async def knock(
        self, requester: Requester, room_id_or_alias: str, reason: str | None = None
    ) -> str:
        room_id = await self.resolve_room(room_id_or_alias)
        await self._refuse_blocked(room_id)
        snapshot = await self._known_room(room_id)
        if not snapshot.room_version.knock_join_rule:
            raise Forbidden(
                f"Room version {snapshot.room_version.identifier} does not support knocking"
            )
        profile = await self._profile(requester.user_id)
        await self._change(
            requester.user_id, room_id, requester.user_id, "knock", reason=reason, extra=profile
        )
        return room_id

    async def forget(self, requester: Requester, room_id: str) -> None:
        """Forgets a room the user has left (history hidden from them).

        Raises:
            MatrixError: 400 M_UNKNOWN when the user is still in the room.
            NotFound: the user was never in the room.
        """
        user_id = requester.user_id
        async with self._db.read() as conn:
            latest = await self._events.membership_event_of(conn, room_id, user_id)
        if latest is None:
            raise NotFound("You were never in this room")
        if latest[1] in _IN_ROOM:
            raise MatrixError("You are still in the room; leave it first", code=Codes.UNKNOWN)
        async with self._db.write() as txn:
            await self._events.forget(txn, room_id, user_id)

    async def _known_room_or_forbidden(self, room_id: str) -> None:
        if await self._cache.room(room_id) is None:
            raise Forbidden("You are not in this room")
