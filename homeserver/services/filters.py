"""Sync filters (client-server spec "Filtering"): parse, store, match.

A filter definition is validated and turned into a frozen :class:`Filter`
once; matching then needs no JSON access. ``types``/``not_types`` accept
``*`` wildcards (matched in linear time by ``core.glob``: a regex with
several ``.*`` backtracks in polynomial time of a high degree); ``not_*``
lists win over their positive lists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.core.errors import (
    BadJson,
    CanonicalJsonError,
    Forbidden,
    InvalidIdentifier,
    NotFound,
)
from homeserver.core.events import PDU
from homeserver.core.glob import matches_any_wildcard
from homeserver.core.ids import parse_room_id, parse_user_id
from homeserver.services.requester import Requester
from homeserver.storage.db import Database
from homeserver.storage.stores.filters import FilterStore

#: Timeline events returned per room when the filter sets no limit.
DEFAULT_TIMELINE_LIMIT = 10
#: The largest timeline limit honoured.
MAX_TIMELINE_LIMIT = 1000


class InvalidFilter(BadJson):
    """400 M_BAD_JSON: the filter definition does not follow the schema."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """``EventFilter`` / ``RoomEventFilter`` fields (the room ones unused elsewhere)."""

    limit: int | None = None
    types: tuple[str, ...] | None = None
    not_types: tuple[str, ...] = ()
    senders: tuple[str, ...] | None = None
    not_senders: tuple[str, ...] = ()
    rooms: tuple[str, ...] | None = None
    not_rooms: tuple[str, ...] = ()
    contains_url: bool | None = None
    lazy_load_members: bool = False
    include_redundant_members: bool = False
    unread_thread_notifications: bool = False

    def allows_type(self, event_type: str) -> bool:
        if self.not_types and matches_any_wildcard(event_type, self.not_types):
            return False
        return self.types is None or matches_any_wildcard(event_type, self.types)

    def allows_sender(self, sender: str) -> bool:
        if sender in self.not_senders:
            return False
        return self.senders is None or sender in self.senders

    def allows_room(self, room_id: str) -> bool:
        if room_id in self.not_rooms:
            return False
        return self.rooms is None or room_id in self.rooms

    def allows(self, event_type: str, sender: str, room_id: str | None = None) -> bool:
        """Whether an event (or account data / presence / ephemeral entry) passes."""
        if not self.allows_type(event_type) or not self.allows_sender(sender):
            return False
        return room_id is None or self.allows_room(room_id)

    def allows_pdu(self, pdu: PDU) -> bool:
        if not self.allows(pdu.type, pdu.sender, pdu.room_id):
            return False
        if self.contains_url is not None:
            has_url = isinstance(pdu.content.get("url"), str)
            if has_url != self.contains_url:
                return False
        return True

    @property
    def blocks_everything(self) -> bool:
        return self.limit == 0 or self.types == ()


@dataclass(frozen=True, slots=True)
class RoomFilter:
    rooms: tuple[str, ...] | None = None
    not_rooms: tuple[str, ...] = ()
    include_leave: bool = False
    timeline: EventFilter = field(default_factory=EventFilter)
    state: EventFilter = field(default_factory=EventFilter)
    ephemeral: EventFilter = field(default_factory=EventFilter)
    account_data: EventFilter = field(default_factory=EventFilter)

    def allows_room(self, room_id: str) -> bool:
        if room_id in self.not_rooms:
            return False
        return self.rooms is None or room_id in self.rooms


@dataclass(frozen=True, slots=True)
class Filter:
    event_fields: tuple[str, ...] | None = None
    event_format: str = "client"
    presence: EventFilter = field(default_factory=EventFilter)
    account_data: EventFilter = field(default_factory=EventFilter)
    room: RoomFilter = field(default_factory=RoomFilter)

    @property
    def timeline_limit(self) -> int:
        limit = self.room.timeline.limit
        if limit is None:
            return DEFAULT_TIMELINE_LIMIT
        return max(0, min(limit, MAX_TIMELINE_LIMIT))


DEFAULT_FILTER = Filter()


# --- parsing -------------------------------------------------------------------


def _str_list(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidFilter(f"{where}.{key} must be a list of strings")
    return tuple(value)


def _id_list(
    obj: Mapping[str, Any], key: str, where: str, check: bool = True
) -> tuple[str, ...] | None:
    """A list of room ids (``rooms``, ``not_rooms``) or user ids (``senders``,
    ``not_senders``): as Synapse's filter schema, each must parse (unless
    ``check`` is off: a stored filter is not judged again)."""
    values = _str_list(obj, key, where)
    if values is None or not check:
        return values
    rooms = key.endswith("rooms")
    for value in values:
        try:
            parse_room_id(value) if rooms else parse_user_id(value, strict=False)
        except InvalidIdentifier as e:
            kind = "room" if rooms else "user"
            raise InvalidFilter(f"{where}.{key}: {value!r} is not a {kind} id") from e
    return values


def _bool(obj: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidFilter(f"{where}.{key} must be a boolean")
    return value


def _obj(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = obj.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidFilter(f"{where}.{key} must be an object")
    return value


def _event_filter(obj: Mapping[str, Any], where: str, check: bool = True) -> EventFilter:
    limit = obj.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise InvalidFilter(f"{where}.limit must be a non-negative integer")
    return EventFilter(
        limit=limit,
        types=_str_list(obj, "types", where),
        not_types=_str_list(obj, "not_types", where) or (),
        senders=_id_list(obj, "senders", where, check),
        not_senders=_id_list(obj, "not_senders", where, check) or (),
        rooms=_id_list(obj, "rooms", where, check),
        not_rooms=_id_list(obj, "not_rooms", where, check) or (),
        contains_url=_bool(obj, "contains_url", where),
        lazy_load_members=_bool(obj, "lazy_load_members", where) or False,
        include_redundant_members=_bool(obj, "include_redundant_members", where) or False,
        unread_thread_notifications=_bool(obj, "unread_thread_notifications", where) or False,
    )


def parse_filter(definition: Any, *, check_ids: bool = True) -> Filter:
    """Validates a filter definition (a JSON object) into a :class:`Filter`.

    Args:
        check_ids: require room and user ids to parse; off for filters
            stored before that was checked, which must keep working.

    Raises:
        InvalidFilter: not an object, or a field of the wrong type.
    """
    if not isinstance(definition, dict):
        raise InvalidFilter("Filter must be a JSON object")
    event_format = definition.get("event_format", "client")
    if event_format not in ("client", "federation"):
        raise InvalidFilter("event_format must be 'client' or 'federation'")
    room = _obj(definition, "room", "filter")
    check = check_ids
    return Filter(
        event_fields=_str_list(definition, "event_fields", "filter"),
        event_format=event_format,
        presence=_event_filter(_obj(definition, "presence", "filter"), "presence", check),
        account_data=_event_filter(
            _obj(definition, "account_data", "filter"), "account_data", check
        ),
        room=RoomFilter(
            rooms=_id_list(room, "rooms", "room", check),
            not_rooms=_id_list(room, "not_rooms", "room", check) or (),
            include_leave=_bool(room, "include_leave", "room") or False,
            timeline=_event_filter(_obj(room, "timeline", "room"), "room.timeline", check),
            state=_event_filter(_obj(room, "state", "room"), "room.state", check),
            ephemeral=_event_filter(_obj(room, "ephemeral", "room"), "room.ephemeral", check),
            account_data=_event_filter(
                _obj(room, "account_data", "room"), "room.account_data", check
            ),
        ),
    )


def apply_event_fields(
    event: dict[str, Any], event_fields: tuple[str, ...] | None
) -> dict[str, Any]:
    """Keeps only ``event_fields`` (dot-separated paths, ``\\.`` escapes a dot)."""
    if event_fields is None:
        return event
    out: dict[str, Any] = {}
    for path in event_fields:
        parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", path)]
        src: Any = event
        for part in parts:
            if not isinstance(src, dict) or part not in src:
                break
            src = src[part]
        else:
            dst = out
            for part in parts[:-1]:
                dst = dst.setdefault(part, {})
                if not isinstance(dst, dict):
                    break
            else:
                dst[parts[-1]] = src
    return out


class FilterService:
    """Stores and loads users' filters."""

    def __init__(self, db: Database, store: FilterStore | None = None) -> None:
        self._db = db
        self._store = store or FilterStore()

    async def create(self, requester: Requester, user_id: str, definition: Any) -> int:
        """Uploads a filter; returns its id.

        Raises:
            Forbidden: ``user_id`` is not the requester.
            InvalidFilter: the definition is malformed.
        """
        if requester.user_id != user_id:
            raise Forbidden("Cannot create filters for other users")
        parse_filter(definition)
        try:
            encode_canonical_json(definition)
        except CanonicalJsonError as e:
            raise InvalidFilter("Filter is not valid JSON") from e
        async with self._db.write() as txn:
            return await self._store.add(txn, user_id, definition)

    async def get_definition(self, requester: Requester, user_id: str, filter_id: str) -> Any:
        """The stored definition.

        Raises:
            Forbidden: ``user_id`` is not the requester.
            NotFound: no such filter.
        """
        if requester.user_id != user_id:
            raise Forbidden("Cannot get filters for other users")
        if not filter_id.isdigit() or len(filter_id) > 18:
            raise NotFound("No such filter")
        async with self._db.read() as conn:
            definition = await self._store.get(conn, user_id, int(filter_id))
        if definition is None:
            raise NotFound("No such filter")
        return definition

    async def resolve(self, user_id: str, param: str | None) -> Filter:
        """The filter of a /sync ``filter`` parameter: inline JSON or a filter id.

        Raises:
            InvalidFilter: malformed inline JSON or definition, or an unknown id.
        """
        if param is None or param == "":
            return DEFAULT_FILTER
        if param.startswith("{"):
            try:
                definition = json.loads(param)
            except ValueError as e:
                raise InvalidFilter("The filter parameter is not valid JSON") from e
            return parse_filter(definition)
        if not param.isdigit() or len(param) > 18:
            raise InvalidFilter(f"Unknown filter {param[:40]!r}")
        async with self._db.read() as conn:
            stored = await self._store.get(conn, user_id, int(param))
        if stored is None:
            raise InvalidFilter(f"Unknown filter {param[:40]!r}")
        return parse_filter(stored, check_ids=False)
