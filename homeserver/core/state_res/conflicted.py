"""Step 0: split the state sets, and (v2.1) find the conflicted state subgraph.

A key is *unconflicted* when every state set maps it to the same event; every
other key is *conflicted*, including a key that some state sets lack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from homeserver.core.events import PDU, StateKey


def split_state(
    state_sets: Sequence[Mapping[StateKey, str]],
) -> tuple[dict[StateKey, str], dict[StateKey, set[str]]]:
    """Splits state sets into the unconflicted state map and the conflicted state.

    Args:
        state_sets: the state sets to resolve, each ``(type, state_key) -> event_id``.

    Returns:
        ``(unconflicted, conflicted)``: the unconflicted state map, and for each
        conflicted key the set of event ids the state sets give it (a state set
        without the key contributes nothing, but still makes the key conflicted).
    """
    if not state_sets:
        return {}, {}
    first, rest = state_sets[0], state_sets[1:]
    if not rest:
        return dict(first), {}

    unconflicted: dict[StateKey, str] = {}
    conflicted: dict[StateKey, set[str]] = {}
    # Keys of the first set: unconflicted iff every other set agrees.
    for key, event_id in first.items():
        for other in rest:
            if other.get(key) != event_id:
                conflicted[key] = {event_id}
                break
        else:
            unconflicted[key] = event_id
    # The other sets add their values to the conflicted keys; a key the first
    # set lacks is conflicted by definition.
    for other in rest:
        for key, event_id in other.items():
            ids = conflicted.get(key)
            if ids is not None:
                ids.add(event_id)
            elif key not in unconflicted:
                conflicted[key] = {event_id}
    return unconflicted, conflicted


def conflicted_subgraph(conflicted_ids: Iterable[str], event_map: Mapping[str, PDU]) -> set[str]:
    """The v2.1 conflicted state subgraph.

    The union of every path along ``auth_events`` edges that starts at one
    conflicted event and ends at another, endpoints included: an event is in
    it when it is reachable from a conflicted event (or is one) *and* a
    conflicted event is reachable from it (or it is one).

    Args:
        conflicted_ids: the events of the conflicted state set.
        event_map: the events; an id missing from it ends that path.

    Returns:
        The event ids of the subgraph (the conflicted events themselves included).
    """
    targets = set(conflicted_ids)
    # reaches[x]: x is a conflicted event or one of x's auth ancestors is.
    # Filled in post-order by an explicit-stack DFS (auth chains can be
    # thousands of events deep, too deep for recursion).
    reaches: dict[str, bool] = {}
    for start in targets:
        if start in reaches:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        reaches[start] = False  # provisional: marks "on the stack or done"
        while stack:
            event_id, index = stack[-1]
            event = event_map.get(event_id)
            parents = event.auth_event_ids if event is not None else ()
            if index < len(parents):
                stack[-1] = (event_id, index + 1)
                parent = parents[index]
                if parent not in reaches:
                    reaches[parent] = False
                    stack.append((parent, 0))
                continue
            stack.pop()
            found = event_id in targets
            if not found:
                for parent in parents:
                    if reaches.get(parent):
                        found = True
                        break
            reaches[event_id] = found
    # Everything visited is reachable from a conflicted event.
    return {event_id for event_id, found in reaches.items() if found}
