"""Step 2: the reverse topological power ordering of the power events.

Kahn's algorithm over the ``auth_events`` DAG restricted to the chosen events,
earliest first; among the events whose auth events are all placed, the next
one is the smallest by ``(-sender power level, origin_server_ts, event_id)``,
where the sender's power level is read from the event's own auth events.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Set

from homeserver.core.auth.power import Level, PowerLevels
from homeserver.core.events import PDU

POWER_LEVELS = "m.room.power_levels"
CREATE = "m.room.create"
JOIN_RULES = "m.room.join_rules"
MEMBER = "m.room.member"


def is_power_event(event: PDU) -> bool:
    """Whether the event is a power event (one that can take away abilities).

    Power levels, join rules, and a membership of ``leave`` or ``ban`` that the
    sender sets on someone else (a kick or a ban). The create event counts too,
    as deployed servers count it; it is never conflicted in a valid room.
    """
    if event.state_key != "" and event.type != MEMBER:
        return False
    event_type = event.type
    if event_type in (POWER_LEVELS, JOIN_RULES, CREATE):
        return event.state_key == ""
    if event_type == MEMBER:
        return event.membership in ("leave", "ban") and event.sender != event.state_key
    return False


def room_create_event(event: PDU, event_map: Mapping[str, PDU]) -> PDU | None:
    """The room's create event as seen from ``event``.

    Its ``auth_events`` entry, or, from v12 where events no longer cite it,
    the event whose id the room id is derived from.
    """
    for auth_id in event.auth_event_ids:
        auth_event = event_map.get(auth_id)
        if auth_event is not None and auth_event.type == CREATE and auth_event.state_key == "":
            return auth_event
    if event.room_version.room_id_from_create_event and event.room_id:
        return event_map.get("$" + event.room_id[1:])
    return None


def sender_power_level(
    event: PDU,
    event_map: Mapping[str, PDU],
    views: dict[str | None, PowerLevels] | None = None,
) -> Level:
    """The power level of the event's sender according to its auth events.

    Args:
        event: the event.
        event_map: the events, by id (the event's auth events are looked up).
        views: a memo of parsed power levels by power levels event id
            (None: no power levels auth event), shared across calls.

    Returns:
        The level; ``CREATOR_LEVEL`` for a v12 creator. Without a power levels
        auth event the creator has 100 and everyone else 0.
    """
    key = power_levels_auth_id(event, event_map)
    power_levels = event_map[key] if key is not None else None
    view = views.get(key) if views is not None else None
    if view is None:
        create = room_create_event(event, event_map)
        view = PowerLevels(event.room_version, create, power_levels)
        if views is not None:
            views[key] = view
    return view.user_level(event.sender)


def reverse_topological_power_sort(
    power_event_ids: Iterable[str],
    event_map: Mapping[str, PDU],
    full_conflicted_set: Set[str],
) -> list[str]:
    """Sorts the power events and their auth ancestors in the full conflicted set.

    The graph is grown from each power event through ``auth_events`` that are
    in the full conflicted set (an ancestor reached only through events
    outside it is not added, as deployed servers do).

    Args:
        power_event_ids: the power events of the full conflicted set.
        event_map: the events, by id; must hold every event of the set.
        full_conflicted_set: the full conflicted set.

    Returns:
        The events in reverse topological power order, earliest first.
    """
    # parents[e]: e's auth events inside the graph.
    parents: dict[str, set[str]] = {}
    stack = list(power_event_ids)
    for event_id in stack:
        parents.setdefault(event_id, set())
    while stack:
        event_id = stack.pop()
        in_graph = parents[event_id]
        for auth_id in event_map[event_id].auth_event_ids:
            if auth_id in full_conflicted_set:
                in_graph.add(auth_id)
                if auth_id not in parents:
                    parents[auth_id] = set()
                    stack.append(auth_id)

    children: dict[str, list[str]] = {event_id: [] for event_id in parents}
    waiting: dict[str, int] = {}
    ready: list[tuple[Level, int, str]] = []
    # One parsed power levels view per power levels event: most events of a
    # large conflict cite the same few.
    views: dict[str | None, PowerLevels] = {}
    keys: dict[str, tuple[Level, int, str]] = {}
    for event_id, event_parents in parents.items():
        event = event_map[event_id]
        level = sender_power_level(event, event_map, views)
        keys[event_id] = (-level, event.origin_server_ts, event_id)
        for parent in event_parents:
            children[parent].append(event_id)
        if event_parents:
            waiting[event_id] = len(event_parents)
        else:
            ready.append(keys[event_id])

    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        event_id = heapq.heappop(ready)[2]
        ordered.append(event_id)
        for child in children[event_id]:
            remaining = waiting[child] - 1
            waiting[child] = remaining
            if remaining == 0:
                heapq.heappush(ready, keys[child])
    # Events on an auth cycle (impossible with hash-based ids) never become
    # ready and are left out.
    return ordered


def power_levels_auth_id(event: PDU, event_map: Mapping[str, PDU]) -> str | None:
    """The id of the power levels event among ``event``'s auth events, if any."""
    for auth_id in event.auth_event_ids:
        auth_event = event_map.get(auth_id)
        if auth_event is None or auth_event.state_key != "":
            continue
        if auth_event.type == POWER_LEVELS:
            return auth_id
    return None
