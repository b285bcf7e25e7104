"""Hypothesis properties of state resolution over randomly forked rooms.

Rooms are grown by a random program of forks, merges and state changes (any
step the auth rules forbid is skipped), and the heads of all branches are
resolved.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeserver.core.errors import AuthRuleViolation
from homeserver.core.events import StateKey
from homeserver.core.room_versions import V1, V2, V10, V12, RoomVersion
from homeserver.core.state_res import resolve_state, state_set_auth_chain
from homeserver.core.state_res.conflicted import split_state
from tests.core.roomdsl import ALICE, BOB, CHARLIE, ZARA, RoomBuilder
from tests.core.state_res_dsl import base_room, merge, state_ids

USERS = (ALICE, BOB, CHARLIE, ZARA)
VERSIONS = (V1, V2, V10, V12)

_step = st.tuples(
    st.sampled_from(("fork", "merge", "topic", "power", "ban", "kick", "join", "leave", "rules")),
    st.integers(0, 7),  # branch
    st.integers(0, 7),  # other branch
    st.sampled_from(USERS),  # sender
    st.sampled_from(USERS),  # target
    st.sampled_from((0, 20, 50, 100)),
)


def _grow(
    room_version: RoomVersion, steps: list[tuple[str, int, int, str, str, int]]
) -> list[RoomBuilder]:
    room = base_room(room_version)
    room.set_power(ALICE, {BOB: 50, CHARLIE: 50})
    branches = [room, room.fork(), room.fork()]
    for action, i, j, sender, target, level in steps:
        branch = branches[i % len(branches)]
        try:
            if action == "fork":
                branches.append(branch.fork())
            elif action == "merge":
                other = branches[j % len(branches)]
                if other is not branch:
                    merge(branch, other, sender=ALICE)
            elif action == "topic":
                branch.send(sender, "m.room.topic", {"topic": f"{sender} {level}"}, state_key="")
            elif action == "power":
                if not (room_version.privileged_creators and target == ALICE):
                    branch.set_power(sender, {target: level})
            elif action == "ban":
                branch.ban(sender, target)
            elif action == "kick":
                branch.kick(sender, target)
            elif action == "join":
                branch.join(sender)
            elif action == "leave":
                branch.leave(sender)
            else:
                branch.set_join_rule(sender, "invite" if level < 50 else "public")
        except AuthRuleViolation:
            continue
    return branches


_rooms = st.builds(
    lambda version, steps: (version, _grow(version, steps)),
    st.sampled_from(VERSIONS),
    st.lists(_step, min_size=3, max_size=20),
)

_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sets(branches: list[RoomBuilder]) -> list[dict[StateKey, str]]:
    return [state_ids(b) for b in branches]


@_settings
@given(_rooms, st.data())
def test_resolution_independent_of_state_set_order(
    room: tuple[RoomVersion, list[RoomBuilder]], data: st.DataObject
) -> None:
    version, branches = room
    sets = _sets(branches)
    shuffled = data.draw(st.permutations(sets))
    events = branches[0].all_events

    assert resolve_state(version, shuffled, events) == resolve_state(version, sets, events)


@_settings
@given(_rooms)
def test_unconflicted_entries_pass_through(room: tuple[RoomVersion, list[RoomBuilder]]) -> None:
    version, branches = room
    sets = _sets(branches)
    unconflicted, _ = split_state(sets)

    resolved = resolve_state(version, sets, branches[0].all_events)

    assert {k: resolved.get(k) for k in unconflicted} == unconflicted


@_settings
@given(_rooms)
def test_single_state_set_resolves_to_itself(room: tuple[RoomVersion, list[RoomBuilder]]) -> None:
    version, branches = room
    for state in _sets(branches):
        assert resolve_state(version, [state], branches[0].all_events) == state


@_settings
@given(_rooms)
def test_resolution_is_idempotent(room: tuple[RoomVersion, list[RoomBuilder]]) -> None:
    version, branches = room
    events = branches[0].all_events
    resolved = resolve_state(version, _sets(branches), events)

    assert resolve_state(version, [resolved, resolved], events) == resolved


@_settings
@given(_rooms)
def test_precomputed_auth_chains_give_same_result(
    room: tuple[RoomVersion, list[RoomBuilder]],
) -> None:
    version, branches = room
    events = branches[0].all_events
    sets = _sets(branches)
    chains = [state_set_auth_chain(s, events) for s in sets]

    assert resolve_state(version, sets, events, chains) == resolve_state(version, sets, events)
