"""The authorization rule for ``m.room.power_levels`` events.

This is the last numbered rule of every room version ("If type is
``m.room.power_levels``"): the content must be well formed, and a user may
only change levels up to their own level, and only other users' entries that
are below their own level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.core.auth.power import (
    LEVEL_KEYS,
    Level,
    PowerLevels,
    is_user_id,
    parse_level,
)
from homeserver.core.errors import AuthRuleViolation
from homeserver.core.events import PDU
from homeserver.core.room_versions import RoomVersion

_RULE = "power_levels"


def check_power_levels_event(event: PDU, power_levels: PowerLevels) -> None:
    """Checks a new ``m.room.power_levels`` event against the current levels.

    Args:
        event: the new power levels event.
        power_levels: the view over the room's current power levels (and
            create event), which the sender's level is read from.

    Raises:
        AuthRuleViolation: the content is malformed or changes a level the
            sender may not change.
    """
    room_version = event.room_version
    content = event.content
    _check_content_shape(content, room_version)

    if room_version.privileged_creators:
        users = content.get("users")
        if isinstance(users, dict):
            listed = power_levels.creators.intersection(users)
            if listed:
                # v12: creators have infinite power and cannot be listed.
                raise AuthRuleViolation(
                    f"room creators cannot appear in users: {sorted(listed)}", _RULE
                )

    if not power_levels.exists:
        return

    old = power_levels.content
    sender_level = power_levels.user_level(event.sender)

    for key in LEVEL_KEYS:
        _check_change(
            key, old.get(key), content.get(key), sender_level, room_version, own_entry=False
        )

    nested = ["events"]
    if room_version.limit_notifications_power_levels:
        nested.append("notifications")
    for prop in nested:
        old_map = _as_dict(old.get(prop))
        new_map = _as_dict(content.get(prop))
        for key in old_map.keys() | new_map.keys():
            _check_change(
                f"{prop}.{key}",
                old_map.get(key),
                new_map.get(key),
                sender_level,
                room_version,
                own_entry=False,
            )

    old_users = _as_dict(old.get("users"))
    new_users = _as_dict(content.get("users"))
    for user_id in old_users.keys() | new_users.keys():
        _check_change(
            f"users.{user_id}",
            old_users.get(user_id),
            new_users.get(user_id),
            sender_level,
            room_version,
            own_entry=user_id == event.sender,
            is_user=True,
        )


def _check_content_shape(content: Mapping[str, Any], room_version: RoomVersion) -> None:
    if room_version.enforce_int_power_levels:
        # v10+: every level must be a JSON integer.
        for key in LEVEL_KEYS:
            if key in content and parse_level(content[key], room_version) is None:
                raise AuthRuleViolation(f"{key} must be an integer", _RULE)
        for prop in ("events", "notifications"):
            if prop not in content:
                continue
            value = content[prop]
            if not isinstance(value, dict) or any(
                parse_level(v, room_version) is None for v in value.values()
            ):
                raise AuthRuleViolation(f"{prop} must map to integers", _RULE)

    if "users" not in content:
        return
    users = content["users"]
    if not isinstance(users, dict):
        raise AuthRuleViolation("users must be an object", _RULE)
    for user_id, value in users.items():
        if not is_user_id(user_id):
            raise AuthRuleViolation(f"not a valid user ID in users: {user_id!r}", _RULE)
        if parse_level(value, room_version) is None:
            raise AuthRuleViolation(f"invalid power level for {user_id}: {value!r}", _RULE)


def _check_change(
    name: str,
    old_raw: object,
    new_raw: object,
    sender_level: Level,
    room_version: RoomVersion,
    *,
    own_entry: bool,
    is_user: bool = False,
) -> None:
    if type(old_raw) is type(new_raw) and old_raw == new_raw:
        return
    old = _parse_present(name, old_raw, room_version)
    new = _parse_present(name, new_raw, room_version)
    if old == new:
        return
    if old is not None:
        # Another user's entry may only be changed while it is below the
        # sender's level; other levels while they are at most the sender's.
        too_high = old >= sender_level if is_user and not own_entry else old > sender_level
        if too_high:
            raise AuthRuleViolation(
                f"cannot change {name} from {old}: sender level is {sender_level}", _RULE
            )
    if new is not None and new > sender_level:
        raise AuthRuleViolation(
            f"cannot set {name} to {new}: above sender level {sender_level}", _RULE
        )


def _parse_present(name: str, raw: object, room_version: RoomVersion) -> int | None:
    if raw is None:
        return None
    level = parse_level(raw, room_version)
    if level is None:
        # Only reachable before v10, where the spec does not validate these
        # values up front; a level that is changed must at least be a level.
        raise AuthRuleViolation(f"invalid power level for {name}: {raw!r}", _RULE)
    return level


def _as_dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
