"""Steps 3 and 5: the iterative auth checks.

Each event, in the given order, is checked against the auth rules with an
auth state made of its own (not rejected) auth events, overridden by the
entries of the state being built for the keys the auth rules read. An event
that passes replaces its key in the state; one that fails is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set

from homeserver.core.auth import auth_types_for_event, check_auth_rules
from homeserver.core.errors import AuthRuleViolation
from homeserver.core.events import PDU, StateKey
from homeserver.core.room_versions import RoomVersion
from homeserver.core.state_res.power_sort import CREATE, room_create_event

_CREATE_KEY: StateKey = (CREATE, "")


def iterative_auth_checks(
    room_version: RoomVersion,
    event_ids: Iterable[str],
    state: dict[StateKey, str],
    event_map: Mapping[str, PDU],
    rejected_event_ids: Set[str] = frozenset(),
) -> dict[StateKey, str]:
    """Applies ``event_ids`` in order to ``state``, keeping those the auth rules allow.

    Args:
        room_version: the room's version.
        event_ids: the sorted state events to apply; each must be in ``event_map``.
        state: the initial state, ``(type, state_key) -> event_id``. It is
            updated in place (callers pass a copy they own) and returned.
        event_map: the events, by id.
        rejected_event_ids: events rejected on receipt; they are never used as
            auth events (the spec excludes rejected auth events).

    Returns:
        ``state``, with every allowed event applied.
    """
    for event_id in event_ids:
        event = event_map[event_id]
        if event.state_key is None:
            continue
        auth_state: dict[StateKey, PDU] = {}
        for auth_id in event.auth_event_ids:
            auth_event = event_map.get(auth_id)
            if (
                auth_event is not None
                and auth_event.state_key is not None
                and auth_id not in rejected_event_ids
            ):
                auth_state[(auth_event.type, auth_event.state_key)] = auth_event
        for key in auth_types_for_event(
            room_version, event.type, event.state_key, event.sender, event.content
        ):
            current_id = state.get(key)
            if current_id is not None:
                current = event_map.get(current_id)
                if current is not None:
                    auth_state[key] = current
        if _CREATE_KEY not in auth_state:
            # v12 events do not cite the create event: the room id names it.
            create = room_create_event(event, event_map)
            if create is not None:
                auth_state[_CREATE_KEY] = create
        try:
            check_auth_rules(event, auth_state)
        except AuthRuleViolation:
            continue
        state[(event.type, event.state_key)] = event_id
    return state
