"""State resolution: the state of a room where its history has forked.

Order of the checks performed on receipt of a PDU (server-server API,
"Checks performed on receipt of a PDU"); this package serves checks 4 and 6:

1. It is a valid event, otherwise it is dropped (format, room version rules).
2. It passes signature checks, otherwise it is dropped.
3. It passes hash checks, otherwise it is redacted before processing further.
4. It passes the auth rules based on its ``auth_events``, otherwise it is
   rejected.
5. It passes the auth rules based on the state before the event (the
   *resolution* of the states after its ``prev_events``), otherwise it is
   rejected.
6. It passes the auth rules based on the current state of the room (the
   resolution of the current state and the state after the event), otherwise
   it is "soft failed".

The resolution of state sets ``S₁ … Sₙ`` (state resolution v2, room versions
2-11; v2.1, room version 12), one module per step:

0. ``conflicted``: split into the *unconflicted state map* (keys every set
   maps to the same event) and the *conflicted state set*.
1. ``auth_difference``: the events in the full auth chain of some state sets
   but not all. The *full conflicted set* is the conflicted state set plus the
   auth difference, plus (v2.1) the *conflicted state subgraph* (every event
   on an ``auth_events`` path between two conflicted events).
2. ``power_sort``: the *power events* of the full conflicted set (power
   levels, join rules, kicks and bans), with their auth ancestors inside the
   full conflicted set, in *reverse topological power ordering* (Kahn's
   algorithm; ties by sender power level, ``origin_server_ts``, ``event_id``).
3. ``iterative``: the *iterative auth checks* on those events, starting from
   the unconflicted state map (v2) or from the empty state map (v2.1); events
   the auth rules reject are dropped. This gives the partially resolved state.
4. ``mainline``: every other event of the full conflicted set, in *mainline
   ordering* based on the power levels event of the partially resolved state.
5. ``iterative``: the iterative auth checks on those, continuing from the
   partially resolved state.
6. The unconflicted state map is laid over the result.

Room version 1 uses state resolution v1 (``v1``).

Everything here is pure: the caller loads every event the algorithm can touch
into ``event_map`` first (the events of the state sets, their auth chains, and
for v12 the create event, which v12 events no longer cite).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

from homeserver.core.events import PDU, StateKey
from homeserver.core.room_versions import RoomVersion, StateResolution
from homeserver.core.state_res.auth_difference import (
    auth_chain,
    auth_difference,
    state_set_auth_chain,
)
from homeserver.core.state_res.conflicted import conflicted_subgraph, split_state
from homeserver.core.state_res.iterative import iterative_auth_checks
from homeserver.core.state_res.mainline import mainline_sort
from homeserver.core.state_res.power_sort import (
    POWER_LEVELS,
    is_power_event,
    reverse_topological_power_sort,
)
from homeserver.core.state_res.v1 import resolve_state_v1

__all__ = ["auth_chain", "resolve_state", "state_set_auth_chain"]

_POWER_LEVELS_KEY: StateKey = (POWER_LEVELS, "")


def resolve_state(
    room_version: RoomVersion,
    state_sets: Sequence[Mapping[StateKey, str]],
    event_map: Mapping[str, PDU],
    auth_chains: Sequence[Set[str]] | None = None,
    *,
    rejected_event_ids: Set[str] = frozenset(),
) -> dict[StateKey, str]:
    """Resolves several state sets of one room into one.

    Args:
        room_version: the room's version; picks the algorithm.
        state_sets: the states to resolve, each ``(type, state_key) -> event_id``.
            The result does not depend on their order.
        event_map: every event referenced by the state sets and their auth
            chains (and, for v12, the room's create event). Conflicted
            events missing from it are left out of the resolution.
        auth_chains: the full auth chain of each state set (its events and all
            their auth ancestors; see ``state_set_auth_chain``), in the order
            of ``state_sets``, when the caller has them precomputed.
            Otherwise they are walked in ``event_map``.
        rejected_event_ids: events that were rejected on receipt; the
            iterative auth checks never use them as auth events.

    Returns:
        The resolved state, ``(type, state_key) -> event_id``; a new dict.
    """
    if room_version.state_res is StateResolution.V1:
        return resolve_state_v1(room_version, state_sets, event_map)

    unconflicted, conflicted = split_state(state_sets)
    if not conflicted:
        return unconflicted

    conflicted_ids: set[str] = set().union(*conflicted.values())
    full_conflicted = conflicted_ids | auth_difference(
        state_sets, unconflicted, event_map, auth_chains
    )
    is_v2_1 = room_version.state_res is StateResolution.V2_1
    if is_v2_1:
        full_conflicted |= conflicted_subgraph(conflicted_ids, event_map)
    # As deployed servers do, an event we could not load takes no part.
    full_conflicted.intersection_update(event_map.keys())

    # Steps 2-3: power events first.
    power_ids = [e for e in full_conflicted if is_power_event(event_map[e])]
    sorted_power = reverse_topological_power_sort(power_ids, event_map, full_conflicted)
    state: dict[StateKey, str] = {} if is_v2_1 else dict(unconflicted)
    iterative_auth_checks(room_version, sorted_power, state, event_map, rejected_event_ids)

    # Steps 4-5: everything else, against the power levels just resolved.
    done = set(sorted_power)
    rest = [e for e in full_conflicted if e not in done]
    ordered = mainline_sort(rest, state.get(_POWER_LEVELS_KEY), event_map)
    iterative_auth_checks(room_version, ordered, state, event_map, rejected_event_ids)

    # Step 6: the unconflicted state map wins.
    state.update(unconflicted)
    return state
