"""Unit tests of the state resolution steps on small hand-made DAGs."""

from __future__ import annotations

from homeserver.core.events import PDU
from homeserver.core.room_versions import V10
from homeserver.core.state_res import auth_chain, state_set_auth_chain
from homeserver.core.state_res.auth_difference import auth_difference
from homeserver.core.state_res.conflicted import conflicted_subgraph, split_state
from homeserver.core.state_res.mainline import mainline_sort
from homeserver.core.state_res.power_sort import is_power_event, reverse_topological_power_sort
from tests.core.roomdsl import ALICE, BOB, CHARLIE, make_pdu
from tests.core.state_res_dsl import base_room, state_ids


def _chain_events(*links: tuple[str, tuple[str, ...]]) -> dict[str, PDU]:
    return {
        event_id: make_pdu(
            V10,
            event_id,
            room_id="!r:x",
            sender=ALICE,
            type="m.room.topic",
            content={},
            state_key=event_id,
            auth_events=auth,
        )
        for event_id, auth in links
    }


def test_split_state_key_missing_from_one_set_is_conflicted() -> None:
    a, b = ("t", "a"), ("t", "b")
    unconflicted, conflicted = split_state([{a: "$1", b: "$2"}, {a: "$1"}])

    assert unconflicted == {a: "$1"}
    assert conflicted == {b: {"$2"}}


def test_split_state_collects_every_conflicting_value() -> None:
    k = ("t", "")
    _, conflicted = split_state([{k: "$1"}, {k: "$2"}, {k: "$1"}, {}])

    assert conflicted == {k: {"$1", "$2"}}


def test_auth_chain_excludes_start_unless_reached() -> None:
    events = _chain_events(("$a", ()), ("$b", ("$a",)), ("$c", ("$b",)))

    assert auth_chain(["$c"], events) == {"$a", "$b"}
    assert auth_chain(["$c", "$b"], events) == {"$a", "$b"}


def test_auth_difference_computed_matches_precomputed_chains() -> None:
    room = base_room(V10)
    left, right = room.fork(), room.fork()
    left.set_power(ALICE, {BOB: 50})
    right.ban(ALICE, CHARLIE)
    sets = [state_ids(left), state_ids(right)]
    unconflicted, _ = split_state(sets)
    chains = [state_set_auth_chain(s, room.all_events) for s in sets]

    computed = auth_difference(sets, unconflicted, room.all_events)

    assert computed == auth_difference(sets, unconflicted, room.all_events, chains)
    assert computed == {left.state[("m.room.power_levels", "")].event_id, right.head}


def test_conflicted_subgraph_holds_paths_between_conflicted_events_only() -> None:
    # top -> low -> mid -> root, and low -> below: only "below" is off the
    # paths between the conflicted events top and root.
    events = _chain_events(
        ("$root", ()),
        ("$below", ()),
        ("$mid", ("$root",)),
        ("$low", ("$mid", "$below")),
        ("$top", ("$low",)),
    )

    subgraph = conflicted_subgraph(["$top", "$root"], events)

    assert subgraph == {"$top", "$low", "$mid", "$root"}


def test_power_sort_prefers_higher_power_then_earlier_ts() -> None:
    room = base_room(V10)
    room.set_power(ALICE, {BOB: 50})
    fork, fork2 = room.fork(), room.fork()
    early_mod = fork.kick(BOB, CHARLIE)
    late_admin = room.ban(ALICE, CHARLIE)  # alice (100), sent after bob's kick
    later_mod = fork2.kick(BOB, "@zara:example.org")
    ids = [later_mod.event_id, early_mod.event_id, late_admin.event_id]

    order = reverse_topological_power_sort(ids, room.all_events, set(ids))

    assert all(is_power_event(room.event(e)) for e in ids)
    assert early_mod.origin_server_ts < late_admin.origin_server_ts
    assert order == [late_admin.event_id, early_mod.event_id, later_mod.event_id]


def test_power_sort_puts_auth_ancestors_first() -> None:
    room = base_room(V10)
    pa = room.set_power(ALICE, {BOB: 50})
    pb = room.set_power(BOB, {CHARLIE: 10})
    ids = {pa.event_id, pb.event_id}

    order = reverse_topological_power_sort([pb.event_id], room.all_events, ids)

    assert order == [pa.event_id, pb.event_id]


def test_mainline_sort_orders_by_cited_power_levels_before_timestamp() -> None:
    room = base_room(V10)
    old = room.fork()
    room.set_power(ALICE, {BOB: 50})
    newer = room.send(ALICE, "m.room.topic", {"topic": "new"}, state_key="")
    older = old.send(ALICE, "m.room.topic", {"topic": "old"}, state_key="")
    pl = room.state[("m.room.power_levels", "")].event_id

    order = mainline_sort([newer.event_id, older.event_id], pl, room.all_events)

    assert older.origin_server_ts > newer.origin_server_ts
    assert order == [older.event_id, newer.event_id]
