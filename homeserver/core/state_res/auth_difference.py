"""Step 1: auth chains and the auth difference.

The auth difference is ``union(C_i) - intersection(C_i)`` where ``C_i`` is the full auth chain of
state set ``S_i``: its events together with all their auth ancestors. (Counting
the state set's own events keeps an event that every state set holds out of
the difference even when only some sets' other events cite it.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set

from homeserver.core.events import PDU, StateKey


def auth_chain(event_ids: Iterable[str], event_map: Mapping[str, PDU]) -> set[str]:
    """The auth chain of some events: every event reachable along ``auth_events``.

    The starting events are included only when another starting event reaches
    them. An id missing from ``event_map`` is included but not walked past.

    Args:
        event_ids: the events to start from.
        event_map: the events, by id.

    Returns:
        The set of auth ancestors' ids.
    """
    return _walk(event_ids, event_map, stop=frozenset())


def state_set_auth_chain(
    state_set: Mapping[StateKey, str], event_map: Mapping[str, PDU]
) -> frozenset[str]:
    """The full auth chain of a state set: its events plus their auth chain.

    This is what ``resolve_state`` expects for each entry of ``auth_chains``.
    """
    ids = set(state_set.values())
    return frozenset(ids | _walk(ids, event_map, stop=frozenset()))


def auth_difference(
    state_sets: Sequence[Mapping[StateKey, str]],
    unconflicted: Mapping[StateKey, str],
    event_map: Mapping[str, PDU],
    auth_chains: Sequence[Set[str]] | None = None,
) -> set[str]:
    """The events in the full auth chain of some state sets but not of all.

    Args:
        state_sets: the state sets being resolved.
        unconflicted: their unconflicted state map (from ``split_state``).
        event_map: the events, by id; used only when ``auth_chains`` is None.
        auth_chains: the full auth chain of each state set (its events and
            their auth ancestors), in the order of ``state_sets``, if the
            caller has them precomputed.

    Returns:
        The auth difference, as event ids.
    """
    if len(state_sets) < 2:
        return set()
    if auth_chains is not None:
        if len(auth_chains) != len(state_sets):
            raise ValueError("auth_chains must have one entry per state set")
        union = set().union(*auth_chains)
        return union.difference(set(auth_chains[0]).intersection(*auth_chains[1:]))

    # Everything reachable from the unconflicted events is in every chain, so
    # walk it once and stop each per-set walk W_i there. As C_i is common plus
    # W_i, and no W_i meets common, the difference is union(W) - intersection(W).
    shared_ids = set(unconflicted.values())
    common = _walk(shared_ids, event_map, stop=frozenset())
    common |= shared_ids
    walks: list[set[str]] = []
    for state_set in state_sets:
        own = {event_id for event_id in state_set.values() if event_id not in common}
        walks.append(own | _walk(own, event_map, stop=common))
    return set().union(*walks).difference(walks[0].intersection(*walks[1:]))


def _walk(start: Iterable[str], event_map: Mapping[str, PDU], stop: Set[str]) -> set[str]:
    """Auth ancestors of ``start``, not walking into (or returning) ``stop``."""
    seen: set[str] = set()
    stack = list(start)
    while stack:
        event = event_map.get(stack.pop())
        if event is None:
            continue
        for parent in event.auth_event_ids:
            if parent not in seen and parent not in stop:
                seen.add(parent)
                stack.append(parent)
    return seen
