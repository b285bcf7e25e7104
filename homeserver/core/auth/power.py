"""Power levels: parsing ``m.room.power_levels`` content and answering "how
powerful is this user" and "what level does this event need".

The rules differ by room version:

* v1-v9 accept levels written as strings (``"50"``, ``" +050 "``) and, before
  v6 (no strict canonical JSON), floats that are truncated toward zero.
* v10+ (``enforce_int_power_levels``) accept JSON integers only.
* With no power levels event, the room creator has level 100 and everyone else
  0. The creator is ``content.creator`` of the create event before v11 and its
  ``sender`` from v11 (``implicit_room_creator``).
* v12 (``privileged_creators``): the sender of the create event and every user
  in its ``content.additional_creators`` have a level above any integer
  (:data:`CREATOR_LEVEL`), whatever the power levels event says.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

from homeserver.core.events import PDU, StateKey
from homeserver.core.room_versions import RoomVersion

#: The level of a v12 room creator: greater than every integer level.
CREATOR_LEVEL: Final = math.inf

#: A user's level: an ``int``, or :data:`CREATOR_LEVEL` for v12 creators.
Level = int | float

#: The properties of the power levels content that hold a single level.
LEVEL_KEYS: Final = (
    "users_default",
    "events_default",
    "state_default",
    "ban",
    "redact",
    "kick",
    "invite",
)

#: Defaults of the single-level properties when they are absent.
DEFAULT_LEVELS: Final[Mapping[str, int]] = {
    "users_default": 0,
    "events_default": 0,
    "state_default": 50,
    "ban": 50,
    "redact": 50,
    "kick": 50,
    "invite": 0,
}

#: Default of a ``notifications`` entry (only ``room`` is defined by the spec).
DEFAULT_NOTIFICATION_LEVEL: Final = 50

# A base 10 integer with optional sign and surrounding whitespace: the
# "stringy power levels" format of v1-v9.
_STRING_INT = re.compile(r"\s*[+-]?[0-9]+\s*")

POWER_LEVELS_KEY: Final[StateKey] = ("m.room.power_levels", "")
CREATE_KEY: Final[StateKey] = ("m.room.create", "")


def parse_level(value: object, room_version: RoomVersion) -> int | None:
    """Reads one power level value as the room version allows.

    Args:
        value: a value from the power levels content.
        room_version: decides whether strings and floats are accepted.

    Returns:
        The level, or None when the value is not a valid level in this room
        version.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if room_version.enforce_int_power_levels:
        return None
    if isinstance(value, str):
        if _STRING_INT.fullmatch(value):
            return int(value)
        return None
    if isinstance(value, float) and not room_version.strict_canonicaljson:
        # Floats are truncated at the decimal point; infinities and NaN
        # make the event invalid.
        if math.isfinite(value):
            return int(value)
        return None
    return None


def is_user_id(value: object) -> bool:
    """A lenient user ID check: ``@localpart:server``, at most 255 bytes.

    Historical user IDs may contain characters outside today's grammar, so
    only the shape is checked here.
    """
    if not isinstance(value, str) or not value.startswith("@"):
        return False
    localpart, sep, server = value[1:].partition(":")
    return bool(sep and server and localpart) and len(value.encode()) <= 255


def server_name_of(identifier: str) -> str | None:
    """The server part of a ``sigil localpart:server`` identifier, if any."""
    _, sep, server = identifier.partition(":")
    return server if sep and server else None


def room_creators(create: PDU | None) -> frozenset[str]:
    """The room's creators as the auth rules of its version define them.

    * before v11: ``content.creator`` of the create event;
    * v11: the create event's sender;
    * v12: the sender plus ``content.additional_creators``.
    """
    if create is None:
        return frozenset()
    room_version = create.room_version
    if not room_version.implicit_room_creator:
        creator = create.content.get("creator")
        return frozenset((creator,)) if isinstance(creator, str) else frozenset()
    creators = {create.sender}
    if room_version.privileged_creators:
        extra = create.content.get("additional_creators")
        if isinstance(extra, list):
            creators.update(u for u in extra if isinstance(u, str))
    return frozenset(creators)


class PowerLevels:
    """A read-only view of the room's power levels for the auth rules.

    Invalid values in an accepted power levels event (only possible in old
    room versions) fall back to the defaults rather than failing.
    """

    __slots__ = (
        "_events",
        "_levels",
        "_notifications",
        "_users",
        "content",
        "creators",
        "exists",
        "privileged_creators",
        "room_version",
    )

    def __init__(
        self,
        room_version: RoomVersion,
        create: PDU | None,
        power_levels: PDU | None,
    ) -> None:
        """Builds the view.

        Args:
            room_version: the room's version.
            create: the room's ``m.room.create`` event, if known.
            power_levels: the current ``m.room.power_levels`` event, if any.
        """
        self.room_version = room_version
        self.exists = power_levels is not None
        content: Mapping[str, Any] = power_levels.content if power_levels is not None else {}
        self.content = content
        self.creators = room_creators(create)
        self.privileged_creators = room_version.privileged_creators
        self._levels = {
            key: _level_or(content.get(key), DEFAULT_LEVELS[key], room_version)
            for key in LEVEL_KEYS
        }
        self._users = _level_map(content.get("users"), room_version)
        self._events = _level_map(content.get("events"), room_version)
        self._notifications = _level_map(content.get("notifications"), room_version)

    @classmethod
    def from_state(cls, room_version: RoomVersion, state: Mapping[StateKey, PDU]) -> PowerLevels:
        """The view over the create and power levels events of ``state``."""
        return cls(room_version, state.get(CREATE_KEY), state.get(POWER_LEVELS_KEY))

    def user_level(self, user_id: str) -> Level:
        """The power level of ``user_id``.

        Returns :data:`CREATOR_LEVEL` for v12 creators. Without a power levels
        event, a creator has 100 and everyone else 0.
        """
        if self.privileged_creators and user_id in self.creators:
            return CREATOR_LEVEL
        if not self.exists:
            return 100 if user_id in self.creators else 0
        return self._users.get(user_id, self._levels["users_default"])

    def event_level(self, event_type: str, is_state: bool) -> int:
        """The level required to send an event of ``event_type``.

        ``events`` overrides the defaults; otherwise ``state_default`` (state
        events) or ``events_default`` (messages) apply.
        """
        level = self._events.get(event_type)
        if level is not None:
            return level
        return self._levels["state_default" if is_state else "events_default"]

    def notification_level(self, key: str) -> int:
        """The level required to trigger the ``key`` notification (``room``)."""
        return self._notifications.get(key, DEFAULT_NOTIFICATION_LEVEL)

    @property
    def users_default(self) -> int:
        return self._levels["users_default"]

    @property
    def invite(self) -> int:
        return self._levels["invite"]

    @property
    def kick(self) -> int:
        return self._levels["kick"]

    @property
    def ban(self) -> int:
        return self._levels["ban"]

    @property
    def redact(self) -> int:
        return self._levels["redact"]


def _level_or(value: object, default: int, room_version: RoomVersion) -> int:
    if value is None:
        return default
    level = parse_level(value, room_version)
    return default if level is None else level


def _level_map(value: object, room_version: RoomVersion) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, int] = {}
    for key, raw in value.items():
        level = parse_level(raw, room_version)
        if level is not None:
            out[key] = level
    return out
