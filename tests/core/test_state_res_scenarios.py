"""Named fork-and-merge scenarios for state resolution v2 and v2.1.

The classic scenarios of the v2 algorithm (ban vs power levels, join rule
evasion, off-topic power levels, topics and mainline ordering), written with
``RoomBuilder`` forks: each resolves the heads of two branches.
"""

from __future__ import annotations

from homeserver.core.auth import CREATOR_LEVEL
from homeserver.core.room_versions import V1, V10, V11, V12, RoomVersion
from homeserver.core.state_res import resolve_state
from homeserver.core.state_res.power_sort import sender_power_level
from tests.core.roomdsl import ALICE, BOB, CHARLIE, EVE, ZARA, RoomBuilder
from tests.core.state_res_dsl import (
    JOIN_RULES,
    POWER_LEVELS,
    TOPIC,
    base_room,
    changed,
    member_key,
    merge,
    resolve_branches,
    state_ids,
)


def _topic(branch: RoomBuilder, sender: str, topic: str) -> str:
    return branch.send(sender, "m.room.topic", {"topic": topic}, state_key="").event_id


def test_ban_wins_over_power_levels_from_banned_user() -> None:
    room = base_room(V10)
    pa = room.set_power(ALICE, {BOB: 50})
    start = state_ids(room)
    left, right = room.fork(), room.fork()
    ma = left.join(ALICE)
    mb = left.ban(ALICE, BOB)
    right.set_power(BOB, {})  # same content, but bob is banned on the left

    resolved = resolve_branches(left, right)

    assert changed(start, resolved) == {
        member_key(ALICE): ma.event_id,
        member_key(BOB): mb.event_id,
    }
    assert resolved[POWER_LEVELS] == pa.event_id


def test_join_rule_change_blocks_concurrent_join() -> None:
    room = base_room(V10)
    start = state_ids(room)
    left, right = room.fork(), room.fork()
    jr = left.set_join_rule(ALICE, "invite")
    right.join(EVE)

    resolved = resolve_branches(left, right)

    assert changed(start, resolved) == {JOIN_RULES: jr.event_id}


def test_power_levels_chain_kept_when_only_one_branch_has_it() -> None:
    room = base_room(V10)
    room.set_power(ALICE, {BOB: 50})
    other = room.fork()
    room.set_power(BOB, {CHARLIE: 50})
    pc = room.set_power(CHARLIE, {CHARLIE: 0})

    resolved = resolve_branches(room, other)

    assert resolved[POWER_LEVELS] == pc.event_id


def test_topic_follows_power_levels_of_admin_over_demoted_user() -> None:
    room = base_room(V10)
    _topic(room, ALICE, "t1")
    room.set_power(ALICE, {BOB: 50})
    right = room.fork()
    t2 = _topic(room, ALICE, "t2")
    pa2 = room.set_power(ALICE, {BOB: 0})
    right.set_power(BOB, {})
    _topic(right, BOB, "t3")

    resolved = resolve_branches(room, right)

    assert resolved[POWER_LEVELS] == pa2.event_id
    assert resolved[TOPIC] == t2


def test_topic_resets_when_setter_is_banned() -> None:
    room = base_room(V10)
    t1 = _topic(room, ALICE, "t1")
    other = room.fork()
    pa = room.set_power(ALICE, {BOB: 50})
    _topic(room, BOB, "t2")
    mb = room.ban(ALICE, BOB)

    resolved = resolve_branches(room, other)

    assert resolved[TOPIC] == t1
    assert resolved[member_key(BOB)] == mb.event_id
    assert resolved[POWER_LEVELS] == pa.event_id


def test_topic_after_merge_wins() -> None:
    room = base_room(V10)
    _topic(room, ALICE, "t1")
    room.set_power(ALICE, {BOB: 50})
    right = room.fork()
    _topic(room, ALICE, "t2")
    pa2 = room.set_power(ALICE, {BOB: 0})
    right.set_power(BOB, {})
    _topic(right, BOB, "t3")
    at_merge = merge(room, right)
    t4 = _topic(room, ALICE, "t4")

    resolved = resolve_state(V10, [state_ids(room), at_merge], room.all_events)

    assert resolved[TOPIC] == t4
    assert resolved[POWER_LEVELS] == pa2.event_id


def test_mainline_orders_topics_by_power_levels_they_cite() -> None:
    room = base_room(V10)
    _topic(room, ALICE, "t1")
    room.set_power(ALICE, {BOB: 50})
    right = room.fork()
    _topic(room, ALICE, "t2")
    pa2 = room.set_power(ALICE, {}, events={"m.room.power_levels": 100})
    t3 = _topic(room, BOB, "t3")
    right.set_power(BOB, {})
    t4 = _topic(right, ALICE, "t4")  # sent after t3, but cites an older mainline entry

    resolved = resolve_branches(room, right)

    assert room.event(t4).origin_server_ts > room.event(t3).origin_server_ts
    assert resolved[TOPIC] == t3
    assert resolved[POWER_LEVELS] == pa2.event_id


def test_concurrent_power_levels_of_equal_admins_later_wins() -> None:
    room = base_room(V10)
    room.set_power(ALICE, {BOB: 100})
    left, right = room.fork(), room.fork()
    left.set_power(ALICE, {CHARLIE: 50})
    pb = right.set_power(BOB, {CHARLIE: 20})

    resolved = resolve_branches(left, right)

    assert resolved[POWER_LEVELS] == pb.event_id


def test_concurrent_power_levels_demotion_wins_over_demoted_users_change() -> None:
    room = base_room(V10)
    room.set_power(ALICE, {BOB: 50})
    left, right = room.fork(), room.fork()
    pa = left.set_power(ALICE, {BOB: 0})
    right.set_power(BOB, {ZARA: 20})  # sent later, by someone the left demotes

    resolved = resolve_branches(left, right)

    assert resolved[POWER_LEVELS] == pa.event_id


def _ban_under_later_demotion(room_version: RoomVersion) -> tuple[RoomBuilder, str, str]:
    """Bob bans charlie while he has 50; alice later demotes him to 0.

    The state sets agree on the demotion and differ only on charlie.
    """
    room = base_room(room_version)
    room.set_power(ALICE, {BOB: 50})
    side = room.fork()
    ban = side.ban(BOB, CHARLIE).event_id
    joined = room.member(CHARLIE)
    assert joined is not None
    room.set_power(ALICE, {BOB: 0})
    return room, ban, joined.event_id


def test_v2_checks_ban_against_unconflicted_power_levels() -> None:
    room, ban, joined = _ban_under_later_demotion(V11)
    with_ban = {**state_ids(room), member_key(CHARLIE): ban}

    resolved = resolve_state(V11, [with_ban, state_ids(room)], room.all_events)

    assert resolved[member_key(CHARLIE)] == joined


def test_v2_1_checks_ban_against_its_own_auth_events() -> None:
    room, ban, _ = _ban_under_later_demotion(V12)
    with_ban = {**state_ids(room), member_key(CHARLIE): ban}

    resolved = resolve_state(V12, [with_ban, state_ids(room)], room.all_events)

    assert resolved[member_key(CHARLIE)] == ban
    assert resolved[POWER_LEVELS] == state_ids(room)[POWER_LEVELS]


def test_v2_1_creator_has_infinite_power_in_power_sort() -> None:
    room = base_room(V12)
    pl = room.set_power(ALICE, {BOB: 100})
    by_bob = room.set_power(BOB, {CHARLIE: 10})

    assert sender_power_level(pl, room.all_events) == CREATOR_LEVEL
    assert sender_power_level(by_bob, room.all_events) == 100


def test_v1_conflicting_topics_pick_the_deeper_allowed_one() -> None:
    room = base_room(V1)
    other = room.fork()
    _topic(room, ALICE, "shallow")
    deep = room.fork()
    _topic(deep, ALICE, "deeper")
    deeper = _topic(deep, ALICE, "deepest")
    left = state_ids(room)

    resolved = resolve_state(V1, [left, state_ids(deep), state_ids(other)], room.all_events)

    assert resolved[TOPIC] == deeper


def _power_levels_reset(room_version: RoomVersion) -> tuple[RoomBuilder, str, str, str]:
    """P1 (bob 50) -> P2 (bob 100) -> P3 (bob gives charlie 100); a topic cites P2.

    One state set has P3, the other was reset to P1 but keeps the topic, so
    P2 is in both auth chains (not in the auth difference) yet lies on the
    auth path between the two conflicted power levels events.
    """
    room = base_room(room_version)
    p1 = room.set_power(ALICE, {BOB: 50}).event_id
    room.set_power(ALICE, {BOB: 100})
    _topic(room, ALICE, "under p2")
    p3 = room.set_power(BOB, {CHARLIE: 100}).event_id
    return room, p1, p3, state_ids(room)[TOPIC]


def test_v2_misses_intermediate_power_levels_between_conflicted_ones() -> None:
    room, p1, _, topic = _power_levels_reset(V11)
    reset = {**state_ids(room), POWER_LEVELS: p1}

    resolved = resolve_state(V11, [state_ids(room), reset], room.all_events)

    assert resolved[POWER_LEVELS] == p1
    assert resolved[TOPIC] == topic


def test_v2_1_conflicted_subgraph_reauthorises_intermediate_power_levels() -> None:
    room, p1, p3, topic = _power_levels_reset(V12)
    reset = {**state_ids(room), POWER_LEVELS: p1}

    resolved = resolve_state(V12, [state_ids(room), reset], room.all_events)

    assert resolved[POWER_LEVELS] == p3
    assert resolved[TOPIC] == topic
