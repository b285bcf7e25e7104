"""The parts of a ``RoomEventFilter`` that /messages and /context apply:
``types``/``not_types`` (with ``*`` wildcards), ``senders``/``not_senders``,
``limit`` and ``lazy_load_members``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeserver.core.errors import InvalidParam
from homeserver.core.events import PDU


def _strings(obj: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParam(f"filter '{key}' must be a list of strings")
    return tuple(value)


def _type_matches(event_type: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        if pattern.endswith("*"):
            if event_type.startswith(pattern[:-1]):
                return True
        elif event_type == pattern:
            return True
    return False


@dataclass(frozen=True, slots=True)
class RoomEventFilter:
    types: tuple[str, ...] | None = None
    not_types: tuple[str, ...] = ()
    senders: tuple[str, ...] | None = None
    not_senders: tuple[str, ...] = ()
    limit: int | None = None
    lazy_load_members: bool = False

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
        lazy = obj.get("lazy_load_members", False)
        if not isinstance(lazy, bool):
            raise InvalidParam("filter 'lazy_load_members' must be a boolean")
        return cls(
            types=_strings(obj, "types"),
            not_types=_strings(obj, "not_types") or (),
            senders=_strings(obj, "senders"),
            not_senders=_strings(obj, "not_senders") or (),
            limit=limit,
            lazy_load_members=lazy,
        )

    def matches(self, pdu: PDU) -> bool:
        if self.not_types and _type_matches(pdu.type, self.not_types):
            return False
        if self.types is not None and not _type_matches(pdu.type, self.types):
            return False
        if pdu.sender in self.not_senders:
            return False
        return self.senders is None or pdu.sender in self.senders
