"""State resolution v1 (room version 1).

Room version 1's algorithm is known to reset state; it is kept only so that
old rooms can be followed. ``R`` starts as the union of the state sets minus
every conflicted key (a key that some set lacks is *not* conflicted in v1).
Conflicts are then settled in passes: power levels, join rules, each
membership; then everything else. In the first three passes the candidates
are sorted by ascending ``depth`` then descending ``sha1(event_id)``; the
first is taken and each next one replaces it while the auth rules allow it
in ``R``, stopping at the first that is not allowed. For every other key the
allowed candidate with the highest ``depth`` and lowest ``sha1(event_id)``
wins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from homeserver.core.auth import auth_types_for_event, check_auth_rules
from homeserver.core.errors import AuthRuleViolation
from homeserver.core.events import PDU, StateKey
from homeserver.core.room_versions import RoomVersion

_AUTH_PASSES = ("m.room.power_levels", "m.room.join_rules", "m.room.member")
_CREATE_KEY: StateKey = ("m.room.create", "")


def resolve_state_v1(
    room_version: RoomVersion,
    state_sets: Sequence[Mapping[StateKey, str]],
    event_map: Mapping[str, PDU],
) -> dict[StateKey, str]:
    """Resolves state sets with the room version 1 algorithm.

    Args:
        room_version: the room's version.
        state_sets: the states to resolve.
        event_map: every event of the state sets; conflicted events missing
            from it are left out.

    Returns:
        The resolved state; a new dict.
    """
    candidates: dict[StateKey, set[str]] = {}
    for state_set in state_sets:
        for key, event_id in state_set.items():
            candidates.setdefault(key, set()).add(event_id)
    resolved: dict[StateKey, str] = {}
    conflicted: dict[StateKey, list[PDU]] = {}
    for key, ids in candidates.items():
        if len(ids) == 1:
            resolved[key] = next(iter(ids))
        else:
            events = [event_map[e] for e in ids if e in event_map]
            if events:
                conflicted[key] = events

    for event_type in _AUTH_PASSES:
        for key in sorted(k for k in conflicted if k[0] == event_type):
            events = sorted(conflicted.pop(key), key=_ascending_depth)
            resolved[key] = events[0].event_id
            for event in events[1:]:
                if not _allowed(room_version, event, resolved, event_map):
                    break
                resolved[key] = event.event_id

    for key in sorted(conflicted):
        for event in sorted(conflicted[key], key=_descending_depth):
            if _allowed(room_version, event, resolved, event_map):
                resolved[key] = event.event_id
                break
    return resolved


def _ascending_depth(event: PDU) -> tuple[int, bytes]:
    # Ascending depth, then descending sha1: invert the digest's bytes.
    digest = hashlib.sha1(event.event_id.encode()).digest()
    return (event.depth, bytes(255 - b for b in digest))


def _descending_depth(event: PDU) -> tuple[int, bytes]:
    return (-event.depth, hashlib.sha1(event.event_id.encode()).digest())


def _allowed(
    room_version: RoomVersion,
    event: PDU,
    state: Mapping[StateKey, str],
    event_map: Mapping[str, PDU],
) -> bool:
    auth_state: dict[StateKey, PDU] = {}
    keys = auth_types_for_event(
        room_version, event.type, event.state_key, event.sender, event.content
    )
    for key in (*keys, _CREATE_KEY):
        event_id = state.get(key)
        if event_id is not None and event_id in event_map:
            auth_state[key] = event_map[event_id]
    try:
        check_auth_rules(event, auth_state)
    except AuthRuleViolation:
        return False
    return True
