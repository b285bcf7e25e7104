"""The ``RoomEventFilter`` that /messages and /context apply.

``types``/``not_types`` take ``*`` wildcards anywhere (``m.room.*``,
``m.*.message``); ``senders``/``not_senders``; ``contains_url``; ``limit``;
``lazy_load_members`` (``include_redundant_members`` is accepted: a page
here is never cached per client, so every sender's member event is
always sent). The ``not_*`` lists win over the positive ones.

The ``filter`` parameter is an inline JSON object, as the spec says; a
filter id from ``POST /user/{userId}/filter`` is also accepted (its
``room.timeline`` part applies), the way /sync takes either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeserver.core.errors import InvalidParam
from homeserver.core.events import PDU
from homeserver.core.glob import matches_any_wildcard
from homeserver.services.filters import EventFilter


def _strings(obj: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParam(f"filter '{key}' must be a list of strings")
    return tuple(value)


def _flag(obj: Mapping[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidParam(f"filter '{key}' must be a boolean")
    return value


def _type_matches(event_type: str, patterns: tuple[str, ...]) -> bool:
    # core.glob: linear in the type whatever the pattern (a regex would not be)
    return matches_any_wildcard(event_type, patterns)


def is_filter_id(text: str) -> bool:
    """Whether a ``filter`` parameter names a stored filter (not inline JSON)."""
    return text.isdigit() and len(text) <= 18


@dataclass(frozen=True, slots=True)
class RoomEventFilter:
    types: tuple[str, ...] | None = None
    not_types: tuple[str, ...] = ()
    senders: tuple[str, ...] | None = None
    not_senders: tuple[str, ...] = ()
    contains_url: bool | None = None
    limit: int | None = None
    lazy_load_members: bool = False
    include_redundant_members: bool = False

    @classmethod
    def parse(cls, text: str | None) -> RoomEventFilter:
        """Reads the ``filter`` query parameter (a JSON object).

        Raises:
            InvalidParam: not a JSON object or a field of the wrong type.
        """
        if text is None or not text.strip():
            return cls()
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise InvalidParam("'filter' must be a JSON RoomEventFilter object") from e
        if not isinstance(obj, dict):
            raise InvalidParam("'filter' must be a JSON RoomEventFilter object")
        limit = obj.get("limit")
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise InvalidParam("filter 'limit' must be a positive integer")
        return cls(
            types=_strings(obj, "types"),
            not_types=_strings(obj, "not_types") or (),
            senders=_strings(obj, "senders"),
            not_senders=_strings(obj, "not_senders") or (),
            contains_url=_flag(obj, "contains_url"),
            limit=limit,
            lazy_load_members=_flag(obj, "lazy_load_members") or False,
            include_redundant_members=_flag(obj, "include_redundant_members") or False,
        )

    @classmethod
    def from_event_filter(cls, stored: EventFilter) -> RoomEventFilter:
        """The room parts of a stored filter's ``room.timeline``."""
        return cls(
            types=stored.types,
            not_types=stored.not_types,
            senders=stored.senders,
            not_senders=stored.not_senders,
            contains_url=stored.contains_url,
            limit=stored.limit or None,
            lazy_load_members=stored.lazy_load_members,
            include_redundant_members=stored.include_redundant_members,
        )

    def matches(self, pdu: PDU) -> bool:
        if self.not_types and _type_matches(pdu.type, self.not_types):
            return False
        if self.types is not None and not _type_matches(pdu.type, self.types):
            return False
        if pdu.sender in self.not_senders:
            return False
        if self.senders is not None and pdu.sender not in self.senders:
            return False
        if self.contains_url is not None:
            has_url = isinstance(pdu.content.get("url"), str)
            if has_url != self.contains_url:
                return False
        return True
