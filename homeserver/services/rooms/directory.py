"""The room directory: aliases, directory visibility and the public room list.

- Aliases on this server map to rooms in ``room_aliases``. Anyone joined to
  a room may add an alias for it; an alias may be removed by its creator,
  by a joined user with the power to send ``m.room.canonical_alias``, or by
  a server admin. A removed alias is also taken out of the room's canonical
  alias event when the remover may change it. An alias in an application
  service's exclusive aliases namespace is only that service's (400
  M_EXCLUSIVE for everyone else, as Synapse does).
- A room is published when ``rooms.is_public`` is set: by createRoom with
  ``visibility: public``, or by ``PUT /directory/list/room`` from a user
  with the power to send ``m.room.canonical_alias`` (or an admin).
- ``/publicRooms`` lists the published rooms, most joined members first,
  filtered by a search term and room types, paged by offset tokens.

``room_summary`` is also the room chunk of the space hierarchy.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.core.auth import PowerLevels
from homeserver.core.errors import (
    Codes,
    Forbidden,
    InvalidIdentifier,
    InvalidParam,
    MatrixError,
    NotFound,
)
from homeserver.core.events import PDU, StateKey
from homeserver.core.ids import parse_room_alias, server_name_of
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.cache import RoomSnapshot
from homeserver.storage.db import Database
from homeserver.storage.stores.directory import DirectoryStore

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: /publicRooms pages hold at most this many rooms.
MAX_PUBLIC_ROOMS_LIMIT = 500
DEFAULT_PUBLIC_ROOMS_LIMIT = 100

CANONICAL_ALIAS_KEY: StateKey = ("m.room.canonical_alias", "")
_SUMMARY_KEYS: list[StateKey] = [
    ("m.room.create", ""),
    ("m.room.name", ""),
    ("m.room.topic", ""),
    ("m.room.avatar", ""),
    CANONICAL_ALIAS_KEY,
    ("m.room.join_rules", ""),
    ("m.room.history_visibility", ""),
    ("m.room.guest_access", ""),
    ("m.room.encryption", ""),
]


def _str_field(state: Mapping[StateKey, PDU], key: StateKey, field: str) -> str | None:
    event = state.get(key)
    value = event.content.get(field) if event is not None else None
    return value if isinstance(value, str) else None


async def room_summary(rooms: Rooms, snapshot: RoomSnapshot) -> JsonDict:
    """The room's public summary (the public rooms / hierarchy chunk)."""
    state = await rooms.cache.state_pdus(snapshot.state, _SUMMARY_KEYS)
    joined = sum(1 for m in snapshot.memberships.values() if m == "join")
    out: JsonDict = {
        "room_id": snapshot.room_id,
        "num_joined_members": joined,
        "world_readable": _str_field(state, ("m.room.history_visibility", ""), "history_visibility")
        == "world_readable",
        "guest_can_join": _str_field(state, ("m.room.guest_access", ""), "guest_access")
        == "can_join",
        "join_rule": _str_field(state, ("m.room.join_rules", ""), "join_rule") or "invite",
        "room_version": snapshot.room_version.identifier,
    }
    for key, field, name in (
        (("m.room.name", ""), "name", "name"),
        (("m.room.topic", ""), "topic", "topic"),
        (("m.room.avatar", ""), "url", "avatar_url"),
        (CANONICAL_ALIAS_KEY, "alias", "canonical_alias"),
        (("m.room.create", ""), "type", "room_type"),
    ):
        value = _str_field(state, key, field)
        if value:
            out[name] = value
    encryption = _str_field(state, ("m.room.encryption", ""), "algorithm")
    if encryption:
        out["encryption"] = encryption
    return out


@dataclass(frozen=True, slots=True)
class PublicRoomsQuery:
    limit: int | None = None
    since: str | None = None
    search_term: str | None = None
    #: None: every room; else the room types to keep (None in it: untyped rooms)
    room_types: tuple[str | None, ...] | None = None


class DirectoryService:
    def __init__(
        self, db: Database, rooms: Rooms, clock: Clock, server_name: str, store: DirectoryStore
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._clock = clock
        self._server_name = server_name
        #: asked about unknown local aliases (application services); True: look again
        self.alias_resolvers: list[Callable[[str], Awaitable[bool]]] = []
        #: may the requester create or remove this local alias? Each raises a
        #: MatrixError when not (application services' exclusive namespaces)
        self.alias_checks: list[Callable[[Requester, str], None]] = []
        self._store = store

    # --- aliases ---------------------------------------------------------------

    def parse_alias(self, raw: str) -> str:
        try:
            return parse_room_alias(raw)
        except InvalidIdentifier as e:
            raise InvalidParam(f"Invalid room alias: {e}") from e

    def _local_alias(self, raw: str) -> str:
        alias = self.parse_alias(raw)
        if server_name_of(alias) != self._server_name:
            raise InvalidParam("Room alias must be on this server")
        return alias

    async def create_alias(self, requester: Requester, raw_alias: str, room_id: str) -> None:
        """Maps a local alias to a room the requester is joined to.

        Raises:
            InvalidParam: malformed alias, or not on this server.
            NotFound: unknown room.
            Forbidden: not joined to the room (admins may map any room).
            MatrixError: 409 M_UNKNOWN when the alias is taken; 400
                M_EXCLUSIVE when an application service reserves it.
        """
        alias = self._local_alias(raw_alias)
        for check in self.alias_checks:
            check(requester, alias)
        snapshot = await self._rooms.cache.room(room_id)
        if snapshot is None:
            raise NotFound("Unknown room")
        if not requester.is_admin and snapshot.membership_of(requester.user_id) != "join":
            raise Forbidden("You must be joined to the room to give it an alias")
        async with self._db.write() as txn:
            created = await self._rooms.rooms_store.create_alias(
                txn, alias, room_id, requester.user_id, self._clock.time_ms()
            )
        if not created:
            raise MatrixError(f"Room alias {alias} already exists", code=Codes.UNKNOWN, status=409)

    async def resolve_alias(self, raw_alias: str) -> JsonDict:
        """``{room_id, servers}`` of an alias.

        Raises:
            InvalidParam: malformed alias.
            NotFound: unknown alias (aliases of other servers need
                federation, which is not wired yet).
        """
        alias = self.parse_alias(raw_alias)
        async with self._db.read() as conn:
            room_id = await self._rooms.rooms_store.get_alias(conn, alias)
        if room_id is None:
            # An application service may create the room on demand.
            for resolver in self.alias_resolvers:
                if await resolver(alias):
                    async with self._db.read() as conn:
                        room_id = await self._rooms.rooms_store.get_alias(conn, alias)
                    break
        if room_id is None:
            raise NotFound(f"Room alias {alias} not found")
        return {"room_id": room_id, "servers": [self._server_name]}

    async def delete_alias(self, requester: Requester, raw_alias: str) -> None:
        """Removes an alias (creator, room moderator or admin).

        Raises:
            InvalidParam: malformed alias.
            NotFound: unknown alias.
            Forbidden: not allowed to remove it.
            MatrixError: 400 M_EXCLUSIVE when an application service reserves it.
        """
        alias = self.parse_alias(raw_alias)
        async with self._db.read() as conn:
            row = await self._store.get_alias_row(conn, alias)
        if row is None:
            raise NotFound(f"Room alias {alias} not found")
        may_change_canonical = await self._may_send_state(
            requester.user_id, row.room_id, "m.room.canonical_alias"
        )
        if not (requester.is_admin or row.creator == requester.user_id or may_change_canonical):
            raise Forbidden("You may not remove this alias")
        for check in self.alias_checks:
            check(requester, alias)
        async with self._db.write() as txn:
            deleted = await self._store.delete_alias(txn, alias)
        if not deleted:
            raise NotFound(f"Room alias {alias} not found")
        if may_change_canonical:
            await self._drop_from_canonical_alias(requester.user_id, row.room_id, alias)

    async def _drop_from_canonical_alias(self, user_id: str, room_id: str, alias: str) -> None:
        snapshot = await self._rooms.cache.room(room_id)
        if snapshot is None:
            return
        state = await self._rooms.cache.state_pdus(snapshot.state, [CANONICAL_ALIAS_KEY])
        event = state.get(CANONICAL_ALIAS_KEY)
        if event is None:
            return
        content = dict(event.content)
        alt = content.get("alt_aliases")
        changed = False
        if content.get("alias") == alias:
            del content["alias"]
            changed = True
        if isinstance(alt, list) and alias in alt:
            content["alt_aliases"] = [a for a in alt if a != alias]
            changed = True
        if not changed:
            return
        try:
            await self._rooms.send.send(
                user_id, room_id, "m.room.canonical_alias", content, state_key=""
            )
        except MatrixError as e:
            logger.info("could not update the canonical alias of %s: %s", room_id, e.message)

    async def room_aliases(self, requester: Requester, room_id: str) -> list[str]:
        """The local aliases of a room, for its members (or anyone when world readable).

        Raises:
            Forbidden: not joined and not world readable.
        """
        snapshot = await self._rooms.cache.room(room_id)
        if snapshot is None:
            raise Forbidden("You are not in this room")
        if not requester.is_admin and snapshot.membership_of(requester.user_id) != "join":
            summary = await room_summary(self._rooms, snapshot)
            if not summary["world_readable"]:
                raise Forbidden("You are not in this room")
        async with self._db.read() as conn:
            return await self._rooms.rooms_store.aliases_of_room(conn, room_id)

    # --- visibility ------------------------------------------------------------

    async def get_visibility(self, room_id: str) -> str:
        async with self._db.read() as conn:
            row = await self._rooms.rooms_store.get_room(conn, room_id)
        if row is None:
            raise NotFound("Unknown room")
        return "public" if row.is_public else "private"

    async def set_visibility(self, requester: Requester, room_id: str, visibility: str) -> None:
        """Publishes or unpublishes a room.

        Raises:
            InvalidParam: visibility is neither public nor private.
            NotFound: unknown room.
            Forbidden: without the power to send ``m.room.canonical_alias``.
        """
        if visibility not in ("public", "private"):
            raise InvalidParam("'visibility' must be 'public' or 'private'")
        if await self._rooms.cache.room(room_id) is None:
            raise NotFound("Unknown room")
        if not requester.is_admin and not await self._may_send_state(
            requester.user_id, room_id, "m.room.canonical_alias"
        ):
            raise Forbidden("You may not change this room's directory visibility")
        await self.publish(room_id, visibility == "public")

    async def publish(self, room_id: str, is_public: bool) -> None:
        async with self._db.write() as txn:
            await self._store.set_public(txn, room_id, is_public)

    async def _may_send_state(self, user_id: str, room_id: str, event_type: str) -> bool:
        snapshot = await self._rooms.cache.room(room_id)
        if snapshot is None or snapshot.membership_of(user_id) != "join":
            return False
        power: PowerLevels = await self._rooms.send.power_levels(snapshot)
        return power.user_level(user_id) >= power.event_level(event_type, True)

    # --- public rooms ----------------------------------------------------------

    def check_server(self, server: str | None) -> None:
        """Raises NotFound for another server's directory (needs federation)."""
        if server is not None and server != self._server_name:
            raise NotFound("Listing other servers' rooms is not supported yet")

    async def public_rooms(self, query: PublicRoomsQuery) -> JsonDict:
        """A page of the published rooms, most joined members first.

        Raises:
            InvalidParam: a malformed ``since`` token.
        """
        offset = _parse_since(query.since)
        async with self._db.read() as conn:
            room_ids = await self._store.public_room_ids(conn)
        chunks: list[JsonDict] = []
        for room_id in room_ids:
            snapshot = await self._rooms.cache.room(room_id)
            if snapshot is None or ("m.room.tombstone", "") in snapshot.state:
                continue
            summary = await room_summary(self._rooms, snapshot)
            summary.pop("room_version", None)
            summary.pop("encryption", None)
            if _matches(summary, query):
                chunks.append(summary)
        chunks.sort(key=lambda c: (-c["num_joined_members"], c["room_id"]))
        limit = query.limit if query.limit is not None else DEFAULT_PUBLIC_ROOMS_LIMIT
        limit = max(0, min(limit, MAX_PUBLIC_ROOMS_LIMIT))
        page = chunks[offset : offset + limit]
        out: JsonDict = {"chunk": page, "total_room_count_estimate": len(chunks)}
        if offset + limit < len(chunks) and limit > 0:
            out["next_batch"] = f"p{offset + limit}"
        if offset > 0:
            out["prev_batch"] = f"p{max(0, offset - limit)}"
        return out


def _parse_since(since: str | None) -> int:
    if since is None:
        return 0
    digits = since[1:]
    if not since.startswith("p") or not digits.isdigit() or len(digits) > 9:
        raise InvalidParam("Invalid 'since' token")
    return int(digits)


def _matches(summary: Mapping[str, Any], query: PublicRoomsQuery) -> bool:
    if query.room_types is not None and summary.get("room_type") not in query.room_types:
        return False
    term = (query.search_term or "").strip().casefold()
    if not term:
        return True
    fields: Sequence[Any] = (
        summary.get("name"),
        summary.get("topic"),
        summary.get("canonical_alias"),
    )
    return any(isinstance(f, str) and term in f.casefold() for f in fields)
