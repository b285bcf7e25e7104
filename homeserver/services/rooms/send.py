"""Sending message and state events (``PUT …/send``, ``PUT …/state``).

The write path, in order (ARCHITECTURE.md §3):

1. txn idempotency fast path: a retry gets the stored event id back and
   costs no rate-limit token;
2. rate limit;
3. the room's lock, then the txn lookup again (two concurrent retries);
4. auth state from the room cache (no full state load);
5. build, sign, check size and auth rules (``build.build_local_event``);
6. persist atomically (``persist.EventPersister``), then notify.

``EventSender.send`` is also the path for membership changes and redactions.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from signedjson.types import SigningKey

from homeserver.core.auth import PowerLevels, parse_level
from homeserver.core.auth.power import LEVEL_KEYS, is_user_id, room_creators
from homeserver.core.errors import (
    BadJson,
    Forbidden,
    InvalidIdentifier,
    InvalidParam,
    MatrixError,
    UserSuspended,
)
from homeserver.core.events import PDU
from homeserver.core.ids import parse_room_alias, server_name_of
from homeserver.core.room_versions import RoomVersion
from homeserver.services.clock import Clock
from homeserver.services.ratelimit import RateLimiter
from homeserver.services.requester import Requester
from homeserver.services.rooms.build import auth_keys, build_local_event
from homeserver.services.rooms.cache import RoomCache, RoomSnapshot
from homeserver.services.rooms.invite_permission import InviteBlocked, invites_blocked
from homeserver.services.rooms.locks import RoomLocks
from homeserver.services.rooms.persist import EventPersister, NewEvent, TxnKey
from homeserver.services.rooms.stripped import UNSIGNED_KEY, stripped_state, stripped_state_keys
from homeserver.storage.db import Database
from homeserver.storage.stores.rooms import RoomStore

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: Hook run under the room lock with the current snapshot, before building:
#: may adjust the content or refuse (membership rules that need more state).
Prepare = Callable[[RoomSnapshot], Awaitable[Mapping[str, Any] | None]]
#: A check on a client's new message event: (requester, room, type, content).
MessageCheck = Callable[[Requester, str, str, Mapping[str, Any]], Awaitable[None]]


class BadAlias(MatrixError):
    """M_BAD_ALIAS: a canonical alias that does not point to the room."""

    def to_json(self) -> dict[str, Any]:
        return {"errcode": "M_BAD_ALIAS", "error": self.message}


def check_power_levels_content(content: Mapping[str, Any], room_version: RoomVersion) -> None:
    """Rejects power levels content that the auth rules would read as garbage.

    Raises:
        BadJson: a level that is not an integer (or, before v10, an integer
            string), or ``users`` keys that are not user ids.
    """
    for key in LEVEL_KEYS:
        if key in content and parse_level(content[key], room_version) is None:
            raise BadJson(f"power levels: '{key}' must be an integer")
    for key in ("users", "events", "notifications"):
        if key not in content:
            continue
        value = content[key]
        if not isinstance(value, dict):
            raise BadJson(f"power levels: '{key}' must be an object")
        for name, level in value.items():
            if parse_level(level, room_version) is None:
                raise BadJson(f"power levels: {key}[{name!r}] must be an integer")
            if key == "users" and not is_user_id(name):
                raise BadJson(f"power levels: {name!r} is not a user id")


def check_server_acl_content(content: Mapping[str, Any]) -> None:
    """Rejects ``m.room.server_acl`` content servers could not apply.

    Raises:
        BadJson: ``allow``/``deny`` not lists of strings, or
            ``allow_ip_literals`` not a boolean.
    """
    for key in ("allow", "deny"):
        value = content.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadJson(f"server ACL: '{key}' must be a list of strings")
    if not isinstance(content.get("allow_ip_literals", True), bool):
        raise BadJson("server ACL: 'allow_ip_literals' must be a boolean")


class EventSender:
    """Builds and persists events sent by local users."""

    def __init__(
        self,
        db: Database,
        rooms: RoomStore,
        cache: RoomCache,
        locks: RoomLocks,
        persister: EventPersister,
        ratelimiter: RateLimiter,
        clock: Clock,
        server_name: str,
        signing_key: SigningKey,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._cache = cache
        self._locks = locks
        self._persister = persister
        self._ratelimiter = ratelimiter
        self._clock = clock
        self._server_name = server_name
        self._signing_key = signing_key
        #: checks run on a client's message event before it is built (e.g.
        #: the relation rules); each raises a MatrixError to refuse it
        self.message_checks: list[MessageCheck] = []

    # --- client entry points ------------------------------------------------

    async def send_message(
        self,
        requester: Requester,
        room_id: str,
        event_type: str,
        content: JsonDict,
        txn: TxnKey,
        *,
        ts: int | None = None,
    ) -> str:
        """Sends a message event; returns its event id (the same on retries).

        ``ts`` overrides ``origin_server_ts`` (appservices only: the API
        honours the ``ts`` query parameter for them alone).
        """
        existing = await self._txn_event(txn)
        if existing is not None:
            return existing
        if requester.is_suspended:
            raise UserSuspended("Suspended accounts may not send events")
        self._ratelimit(requester)
        if requester.is_shadow_banned:
            return made_up_event_id()
        if event_type == "m.room.redaction":
            # Redactions have their own endpoint, which checks the target.
            raise Forbidden("Send redactions with the /redact endpoint")
        for check in self.message_checks:
            await check(requester, room_id, event_type, content)
        pdu = await self.send(requester.user_id, room_id, event_type, content, txn=txn, ts=ts)
        return pdu.event_id

    async def send_state(
        self,
        requester: Requester,
        room_id: str,
        event_type: str,
        state_key: str,
        content: JsonDict,
    ) -> str:
        """Sends a state event; a no-op change returns the current event's id."""
        is_member = event_type == "m.room.member"
        if requester.is_suspended and not (
            is_member and state_key == requester.user_id and content.get("membership") == "leave"
        ):
            raise UserSuspended("Suspended accounts may only leave rooms")
        self._ratelimit(requester)
        if requester.is_shadow_banned and not is_member:
            return made_up_event_id()
        snapshot = await self._cache.room(room_id)
        if snapshot is None:
            raise Forbidden("You are not in this room")
        if event_type == "m.room.create" and state_key == "":
            # As Synapse: a room is created once (400, not an auth failure).
            raise InvalidParam("Cannot resend m.room.create event")
        if event_type == "m.room.power_levels":
            check_power_levels_content(content, snapshot.room_version)
            if (
                snapshot.room_version.privileged_creators
                and snapshot.membership_of(requester.user_id) == "join"
            ):
                await self._check_creators_not_in_users(snapshot, content)
        if event_type == "m.room.canonical_alias":
            await self._check_canonical_alias(room_id, content)
        unsigned = None
        if event_type == "m.room.member":
            membership = content.get("membership")
            if membership not in ("join", "invite", "leave", "ban", "knock"):
                raise BadJson(
                    "m.room.member 'membership' must be join, invite, leave, ban or knock"
                )
            if (
                membership == "invite"
                and not requester.is_admin
                and await invites_blocked(self._db, state_key)
            ):
                raise InviteBlocked()
            unsigned_key = UNSIGNED_KEY.get(membership)
            if unsigned_key is not None:

                async def unsigned(current: RoomSnapshot) -> Mapping[str, Any]:
                    keys = stripped_state_keys(membership, requester.user_id)
                    state = await self._cache.state_pdus(current.state, keys)
                    return {unsigned_key: stripped_state(state, membership, requester.user_id)}

        if event_type == "m.room.server_acl":
            check_server_acl_content(content)

        async def unchanged(current: RoomSnapshot) -> Mapping[str, Any] | None:
            current_id = current.state.get((event_type, state_key))
            if current_id is None:
                return content
            stored = await self._cache.event(current_id)
            if (
                stored is not None
                and stored.redacted_by is None
                and stored.pdu.sender == requester.user_id
                and stored.pdu.content == content
            ):
                raise Unchanged(current_id)
            return content

        pdu = await self.send(
            requester.user_id,
            room_id,
            event_type,
            content,
            state_key=state_key,
            prepare=unchanged,
            unsigned=unsigned,
        )
        return pdu.event_id

    # --- the shared path ------------------------------------------------------

    async def send(
        self,
        sender: str,
        room_id: str,
        event_type: str,
        content: Mapping[str, Any],
        *,
        state_key: str | None = None,
        redacts: str | None = None,
        txn: TxnKey | None = None,
        prepare: Prepare | None = None,
        apply_redaction: Callable[[PDU, RoomSnapshot], Awaitable[bool]] | None = None,
        ts: int | None = None,
        unsigned: Callable[[RoomSnapshot], Awaitable[Mapping[str, Any]]] | None = None,
    ) -> PDU:
        """Builds an event on the room's current state and persists it.

        Args:
            sender: the local user sending it.
            room_id: the room.
            event_type, content, state_key, redacts: the event.
            txn: the client txn key to record with the event.
            prepare: called under the room lock; returns the final content,
                or raises ``Unchanged`` to send nothing and return the
                current event instead.
            apply_redaction: for redactions: whether the target gets redacted.
            unsigned: called under the room lock; ``unsigned`` data for the
                event (e.g. an invite's stripped state).

        Raises:
            Forbidden: unknown room, or the auth rules reject the event.
            TooLarge, BadJson: see ``build_local_event``.
        """
        async with self._locks.hold(room_id):
            if txn is not None:
                existing = await self._txn_event(txn)
                if existing is not None:
                    stored = await self._cache.event(existing)
                    if stored is not None:
                        return stored.pdu
            snapshot = await self._cache.room(room_id)
            if snapshot is None:
                raise Forbidden("You are not in this room")
            if prepare is not None:
                try:
                    prepared = await prepare(snapshot)
                except Unchanged as e:
                    unchanged = await self._cache.event(e.event_id)
                    if unchanged is None:
                        raise RuntimeError(f"current state event {e.event_id} is missing") from e
                    return unchanged.pdu
                if prepared is not None:
                    content = prepared
            extra_unsigned = await unsigned(snapshot) if unsigned is not None else None
            pdu = await self.build(
                snapshot,
                sender,
                event_type,
                content,
                state_key,
                redacts,
                ts=ts,
                extra_unsigned=extra_unsigned,
            )
            apply = False
            if apply_redaction is not None:
                apply = await apply_redaction(pdu, snapshot)
            await self._persister.persist(snapshot, [NewEvent(pdu, txn=txn, apply_redaction=apply)])
            logger.debug("sent %s (%s) in %s", pdu.event_id, event_type, room_id)
            return pdu

    async def build(
        self,
        snapshot: RoomSnapshot,
        sender: str,
        event_type: str,
        content: Mapping[str, Any],
        state_key: str | None = None,
        redacts: str | None = None,
        *,
        ts: int | None = None,
        extra_unsigned: Mapping[str, Any] | None = None,
    ) -> PDU:
        """Builds and authorises an event on ``snapshot`` (nothing is written)."""
        rv = snapshot.room_version
        keys = auth_keys(rv, event_type, state_key, sender, content)
        auth_state = await self._cache.state_pdus(snapshot.state, keys)
        unsigned: dict[str, Any] | None = dict(extra_unsigned) if extra_unsigned else None
        if state_key is not None:
            replaced = snapshot.state.get((event_type, state_key))
            if replaced is not None:
                unsigned = {**(unsigned or {}), "replaces_state": replaced}
        return build_local_event(
            room_version=rv,
            room_id=snapshot.room_id,
            sender=sender,
            event_type=event_type,
            content=content,
            state_key=state_key,
            redacts=redacts,
            prev_events=snapshot.extremities,
            depth=snapshot.depth + 1,
            auth_state=auth_state,
            now_ms=self._clock.time_ms() if ts is None else ts,
            server_name=self._server_name,
            signing_key=self._signing_key,
            unsigned=unsigned,
        )

    async def power_levels(self, snapshot: RoomSnapshot) -> PowerLevels:
        state = await self._cache.state_pdus(
            snapshot.state, [("m.room.create", ""), ("m.room.power_levels", "")]
        )
        return PowerLevels.from_state(snapshot.room_version, state)

    # --- helpers ---------------------------------------------------------------

    def _ratelimit(self, requester: Requester) -> None:
        if not requester.ratelimit_exempt:
            self._ratelimiter.check("message", requester.user_id)

    async def _check_creators_not_in_users(
        self, snapshot: RoomSnapshot, content: Mapping[str, Any]
    ) -> None:
        """v12: the creators' power is implicit; naming one in ``users`` is
        refused with 400 before the auth rules would reject it (as Synapse)."""
        users = content.get("users")
        if not isinstance(users, dict) or not users:
            return
        create = (await self._cache.state_pdus(snapshot.state, [("m.room.create", "")])).get(
            ("m.room.create", "")
        )
        named = sorted(room_creators(create) & users.keys())
        if named:
            raise InvalidParam(f"Room creators must not appear in content.users: {named}")

    async def _txn_event(self, txn: TxnKey) -> str | None:
        async with self._db.read() as conn:
            return await self._rooms.get_txn_event(conn, txn.user_id, txn.device_id, txn.path)

    async def _check_canonical_alias(self, room_id: str, content: Mapping[str, Any]) -> None:
        aliases: list[Any] = []
        if "alias" in content:
            aliases.append(content["alias"])
        alt = content.get("alt_aliases", [])
        if not isinstance(alt, list):
            raise InvalidParam("'alt_aliases' must be a list of aliases")
        aliases.extend(alt)
        for alias in aliases:
            if alias is None and alias is content.get("alias"):
                continue
            try:
                parsed = parse_room_alias(alias) if isinstance(alias, str) else None
            except InvalidIdentifier:
                parsed = None
            if parsed is None:
                raise InvalidParam(f"{alias!r} is not a valid room alias")
            if server_name_of(parsed) != self._server_name:
                continue
            async with self._db.read() as conn:
                target = await self._rooms.get_alias(conn, parsed)
            if target != room_id:
                raise BadAlias(f"{parsed} does not point to this room")


def made_up_event_id() -> str:
    """An event id for an event that is never persisted: what a shadow-banned
    user is told, so they cannot tell their events go nowhere (Synapse's
    behaviour)."""
    return "$" + secrets.token_urlsafe(32)


class Unchanged(Exception):
    """Raised by a ``Prepare`` hook: the change is a no-op; nothing is sent."""

    def __init__(self, event_id: str) -> None:
        super().__init__(event_id)
        self.event_id = event_id
