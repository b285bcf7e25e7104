"""The redaction algorithm of every room version.

Redaction strips an event down to the keys that the authorization rules and
the event graph need; signatures cover exactly this redacted form, and the
reference hash (event ids from v3) is computed over it.

The rules, per the room version specs:

- v1-v10 keep the top-level keys ``event_id type room_id sender state_key
  content hashes signatures depth prev_events prev_state auth_events origin
  origin_server_ts membership``; v11+ no longer keep ``origin``,
  ``membership`` and ``prev_state``.
- ``content`` keeps, by event type:
  ``m.room.member``: ``membership``; ``join_authorised_via_users_server`` from
  v9; ``third_party_invite`` reduced to its ``signed`` key from v11.
  ``m.room.create``: ``creator``; everything from v11.
  ``m.room.join_rules``: ``join_rule``; ``allow`` from v8.
  ``m.room.power_levels``: ``ban events events_default kick redact
  state_default users users_default``; ``invite`` from v11.
  ``m.room.history_visibility``: ``history_visibility``.
  ``m.room.aliases``: ``aliases`` in v1-v5 only.
  ``m.room.redaction``: ``redacts`` from v11.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.core.room_versions import RoomVersion

JsonDict = dict[str, Any]

_TOP_LEVEL_KEYS = frozenset(
    {
        "event_id",
        "type",
        "room_id",
        "sender",
        "state_key",
        "content",
        "hashes",
        "signatures",
        "depth",
        "prev_events",
        "auth_events",
        "origin_server_ts",
    }
)
#: Kept before v11 only.
_LEGACY_TOP_LEVEL_KEYS = frozenset({"prev_state", "origin", "membership"})

_POWER_LEVELS_KEYS = frozenset(
    {"ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"}
)


def kept_top_level_keys(room_version: RoomVersion) -> frozenset[str]:
    """The top-level keys that survive redaction in ``room_version``."""
    if room_version.updated_redaction_rules:
        return _TOP_LEVEL_KEYS
    return _TOP_LEVEL_KEYS | _LEGACY_TOP_LEVEL_KEYS


def kept_content_keys(event_type: str, room_version: RoomVersion) -> frozenset[str] | None:
    """The content keys that survive redaction for an event type.

    Args:
        event_type: the event's ``type``.
        room_version: the room's version.

    Returns:
        The kept keys, or None when the whole content is kept
        (``m.room.create`` from v11). ``m.room.member``'s
        ``third_party_invite`` (v11+) is kept in part and handled by
        ``redact``, not listed here.
    """
    rv = room_version
    if event_type == "m.room.member":
        if rv.restricted_join_rule_fix:
            return frozenset({"membership", "join_authorised_via_users_server"})
        return frozenset({"membership"})
    if event_type == "m.room.create":
        return None if rv.updated_redaction_rules else frozenset({"creator"})
    if event_type == "m.room.join_rules":
        if rv.restricted_join_rule:
            return frozenset({"join_rule", "allow"})
        return frozenset({"join_rule"})
    if event_type == "m.room.power_levels":
        if rv.updated_redaction_rules:
            return _POWER_LEVELS_KEYS | {"invite"}
        return _POWER_LEVELS_KEYS
    if event_type == "m.room.history_visibility":
        return frozenset({"history_visibility"})
    # v6 (MSC2432) dropped the special case, together with the aliases auth rule.
    if event_type == "m.room.aliases" and rv.special_case_aliases_auth:
        return frozenset({"aliases"})
    if event_type == "m.room.redaction" and rv.updated_redaction_rules:
        return frozenset({"redacts"})
    return frozenset()


def redact(event_dict: Mapping[str, Any], room_version: RoomVersion) -> JsonDict:
    """Applies the redaction algorithm of ``room_version``.

    The input is not changed; nested values kept in the result are shared
    with it, so treat both as read-only or copy.

    Args:
        event_dict: the event in its federation (PDU) form.
        room_version: the room's version.

    Returns:
        A new dict with only the keys the algorithm keeps. ``unsigned`` is
        dropped: adding ``redacted_because`` for clients is the caller's job.
    """
    keep = kept_top_level_keys(room_version)
    redacted = {k: v for k, v in event_dict.items() if k in keep}
    content = event_dict.get("content")
    if not isinstance(content, Mapping):
        # Malformed events are refused by validation; keep redaction total.
        if "content" in redacted:
            redacted["content"] = {}
        return redacted
    event_type = event_dict.get("type")
    kept = kept_content_keys(event_type if isinstance(event_type, str) else "", room_version)
    if kept is None:
        new_content = dict(content)
    else:
        new_content = {k: v for k, v in content.items() if k in kept}
        if event_type == "m.room.member" and room_version.updated_redaction_rules:
            invite = content.get("third_party_invite")
            if isinstance(invite, Mapping) and "signed" in invite:
                new_content["third_party_invite"] = {"signed": invite["signed"]}
    redacted["content"] = new_content
    return redacted
