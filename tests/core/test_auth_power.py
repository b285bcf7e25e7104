"""Power levels: parsing, levels of users and events, and the power levels rule."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeserver.core.auth import CREATOR_LEVEL, PowerLevels, check_auth_rules, parse_level
from homeserver.core.errors import AuthRuleViolation
from homeserver.core.events import PDU
from homeserver.core.room_versions import V1, V5, V6, V9, V10, V11, V12, RoomVersion
from tests.core.roomdsl import ALICE, BOB, CHARLIE, DAVE, RoomBuilder

PL_KEY = ("m.room.power_levels", "")


def violation(event: PDU, room: RoomBuilder) -> str | None:
    try:
        check_auth_rules(event, room.state)
    except AuthRuleViolation as e:
        return e.rule
    return None


def propose_pl(room: RoomBuilder, sender: str, content: dict[str, Any]) -> PDU:
    return room.propose(sender, "m.room.power_levels", content, "")


def current_pl(room: RoomBuilder) -> dict[str, Any]:
    return dict(room.state[PL_KEY].content)


# --- parse_level ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(50, 50), ("50", 50), (" +050 ", 50), ("-7", -7), ("5.0", None), ("abc", None), (True, None)],
)
def test_parse_level_accepts_integer_strings_before_v10(
    value: object, expected: int | None
) -> None:
    assert parse_level(value, V9) == expected


@pytest.mark.parametrize("value", ["50", 50.0, True, None, [50]])
def test_parse_level_rejects_non_integers_from_v10(value: object) -> None:
    assert parse_level(value, V10) is None
    assert parse_level(7, V10) == 7


@pytest.mark.parametrize(
    ("rv", "value", "expected"),
    [(V1, 50.7, 50), (V5, -3.9, -3), (V5, math.inf, None), (V6, 50.7, None)],
)
def test_parse_level_truncates_floats_before_v6(
    rv: RoomVersion, value: float, expected: int | None
) -> None:
    assert parse_level(value, rv) == expected


# --- PowerLevels view ---------------------------------------------------------------


def test_power_levels_defaults_when_content_empty() -> None:
    room = RoomBuilder(V10, power_levels={}, join_rule=None)
    pl = PowerLevels.from_state(V10, room.state)
    assert (pl.ban, pl.kick, pl.redact, pl.invite, pl.users_default) == (50, 50, 50, 0, 0)
    assert pl.event_level("m.room.topic", True) == 50
    assert pl.event_level("m.room.message", False) == 0
    assert pl.notification_level("room") == 50
    assert pl.user_level(ALICE) == 0


@pytest.mark.parametrize(("rv", "creator_level"), [(V1, 100), (V10, 100), (V11, 100)])
def test_creator_has_100_without_power_levels_event(rv: RoomVersion, creator_level: int) -> None:
    room = RoomBuilder(rv)
    pl = PowerLevels(rv, room.create_event, None)
    assert pl.user_level(ALICE) == creator_level
    assert pl.user_level(BOB) == 0


def test_v12_creators_have_creator_level_whatever_power_levels_say() -> None:
    room = RoomBuilder(V12, additional_creators=[BOB])
    pl = PowerLevels.from_state(V12, room.state)
    assert pl.user_level(ALICE) == CREATOR_LEVEL
    assert pl.user_level(BOB) == CREATOR_LEVEL
    assert pl.user_level(CHARLIE) == 0
    assert CREATOR_LEVEL > 2**63


def test_string_levels_are_read_before_v10() -> None:
    room = RoomBuilder(V9, power_levels={"users": {ALICE: "100", BOB: " 20 "}, "ban": "30"})
    pl = PowerLevels.from_state(V9, room.state)
    assert (pl.user_level(BOB), pl.ban) == (20, 30)


# --- the power levels rule ------------------------------------------------------------


@pytest.mark.parametrize("key", ["ban", "kick", "invite", "users_default", "state_default"])
def test_power_levels_rejected_when_level_not_integer_from_v10(key: str) -> None:
    room = RoomBuilder(V10)
    assert violation(propose_pl(room, ALICE, {**current_pl(room), key: "50"}), room) == (
        "power_levels"
    )


def test_power_levels_string_levels_allowed_before_v10() -> None:
    room = RoomBuilder(V9)
    content = {**current_pl(room), "ban": "60", "users": {ALICE: "100", BOB: "5"}}
    assert violation(propose_pl(room, ALICE, content), room) is None


@pytest.mark.parametrize("prop", ["events", "notifications"])
def test_power_levels_rejected_when_nested_values_not_integers_from_v10(prop: str) -> None:
    room = RoomBuilder(V10)
    bad = {**current_pl(room), prop: {"x": "1"}}
    assert violation(propose_pl(room, ALICE, bad), room) == "power_levels"
    not_object = {**current_pl(room), prop: 5}
    assert violation(propose_pl(room, ALICE, not_object), room) == "power_levels"


@pytest.mark.parametrize("rv", [V1, V10, V12], ids=lambda v: f"v{v.identifier}")
@pytest.mark.parametrize("users", [{"bob": 1}, {BOB: "x"}, [BOB]])
def test_power_levels_rejected_when_users_invalid(rv: RoomVersion, users: object) -> None:
    room = RoomBuilder(rv)
    assert violation(propose_pl(room, ALICE, {"users": users}), room) == "power_levels"


def test_v12_power_levels_rejected_when_creator_listed() -> None:
    room = RoomBuilder(V12, additional_creators=[BOB])
    for creator in (ALICE, BOB):
        event = propose_pl(room, ALICE, {"users": {creator: 100}})
        assert violation(event, room) == "power_levels"
    assert violation(propose_pl(room, ALICE, {"users": {CHARLIE: 100}}), room) is None


def test_v11_power_levels_may_list_creator() -> None:
    room = RoomBuilder(V11)
    assert violation(propose_pl(room, ALICE, {"users": {ALICE: 100}}), room) is None


def test_first_power_levels_allowed_with_any_levels() -> None:
    room = RoomBuilder(V10, power_levels=None)
    state_without_pl = dict(room.state)
    del state_without_pl[PL_KEY]
    event = room.propose(ALICE, "m.room.power_levels", {"users": {BOB: 1000}, "ban": 999}, "")
    check_auth_rules(event, state_without_pl)


def _moderated_room(rv: RoomVersion = V10) -> RoomBuilder:
    room = RoomBuilder(rv)
    room.join(BOB)
    room.join(CHARLIE)
    room.set_power(ALICE, {BOB: 50, CHARLIE: 20})
    return room


def test_power_levels_change_up_to_own_level_allowed() -> None:
    room = _moderated_room()
    content = current_pl(room)
    content["users"] = {**content["users"], CHARLIE: 50, DAVE: 50}
    assert violation(propose_pl(room, BOB, content), room) is None


def test_power_levels_rejected_when_raising_above_own_level() -> None:
    room = _moderated_room()
    content = current_pl(room)
    content["users"] = {**content["users"], CHARLIE: 51}
    assert violation(propose_pl(room, BOB, content), room) == "power_levels"


def test_power_levels_rejected_when_changing_user_at_own_level() -> None:
    room = _moderated_room()
    room.join(DAVE)
    room.set_power(ALICE, {DAVE: 50})
    content = current_pl(room)
    content["users"] = {**content["users"], DAVE: 0}
    assert violation(propose_pl(room, BOB, content), room) == "power_levels"
    users = dict(content["users"])
    del users[DAVE]
    assert violation(propose_pl(room, BOB, {**content, "users": users}), room) == "power_levels"


def test_power_levels_own_entry_can_be_lowered() -> None:
    room = _moderated_room()
    content = current_pl(room)
    content["users"] = {**content["users"], BOB: 10}
    assert violation(propose_pl(room, BOB, content), room) is None


@pytest.mark.parametrize(
    ("key", "old", "new", "expected"),
    [
        ("ban", 50, 40, None),
        ("ban", 60, 40, "power_levels"),
        ("ban", 40, 60, "power_levels"),
        ("kick", None, 50, None),
        ("kick", 60, None, "power_levels"),
    ],
)
def test_power_levels_top_level_changes_bounded_by_sender(
    key: str, old: int | None, new: int | None, expected: str | None
) -> None:
    room = _moderated_room()
    base = current_pl(room)
    base.pop(key, None)
    if old is not None:
        base[key] = old
    room.set_power_levels(ALICE, base)
    content = dict(base)
    content.pop(key, None)
    if new is not None:
        content[key] = new
    assert violation(propose_pl(room, BOB, content), room) == expected


def test_power_levels_events_entries_bounded_by_sender() -> None:
    room = _moderated_room()
    room.set_power(ALICE, {}, events={"m.room.name": 80, "m.room.topic": 10})
    content = current_pl(room)
    lowered_high = {**content, "events": {"m.room.name": 10, "m.room.topic": 10}}
    assert violation(propose_pl(room, BOB, lowered_high), room) == "power_levels"
    raised = {**content, "events": {"m.room.name": 80, "m.room.topic": 60}}
    assert violation(propose_pl(room, BOB, raised), room) == "power_levels"
    ok = {**content, "events": {"m.room.name": 80, "m.room.topic": 50}}
    assert violation(propose_pl(room, BOB, ok), room) is None


@pytest.mark.parametrize(("rv", "expected"), [(V1, None), (V6, "power_levels")])
def test_power_levels_notifications_checked_from_v6(rv: RoomVersion, expected: str | None) -> None:
    room = _moderated_room(rv)
    content = {**current_pl(room), "notifications": {"room": 90}}
    assert violation(propose_pl(room, BOB, content), room) == expected


def test_v12_creator_may_set_any_level() -> None:
    room = RoomBuilder(V12)
    content = {"users": {BOB: 2**53 - 1}, "ban": 10**9}
    assert violation(propose_pl(room, ALICE, content), room) is None


# --- properties -----------------------------------------------------------------------

_VERSIONS = st.sampled_from([V1, V6, V9, V10, V11, V12])
_USERS = st.sampled_from([ALICE, BOB, CHARLIE, DAVE])
_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.sampled_from(["50", " -5 ", "+100", "1e3"]),
)
_json = st.recursive(
    _json_scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_level_keys = st.sampled_from(
    ["users_default", "events_default", "state_default", "ban", "kick", "redact", "invite"]
)
_pl_content = st.dictionaries(
    _level_keys | st.sampled_from(["users", "events", "notifications", "other"]),
    _json | st.dictionaries(_USERS | st.text(max_size=4), _json, max_size=3),
    max_size=6,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(rv=_VERSIONS, content=_pl_content, sender=_USERS)
def test_random_power_levels_only_fail_with_auth_rule_violation(
    rv: RoomVersion, content: dict[str, Any], sender: str
) -> None:
    room = RoomBuilder(rv)
    room.join(BOB)
    room.set_power(ALICE, {BOB: 50})
    event = propose_pl(room, sender, content)
    try:
        check_auth_rules(event, room.state)
    except AuthRuleViolation:
        return
    # Accepted content can be read back without errors.
    pl = PowerLevels(rv, room.create_event, event)
    for user_id in (ALICE, BOB, CHARLIE):
        assert isinstance(pl.user_level(user_id), int | float)


_levels = st.integers(-10, 110)


@settings(max_examples=300)
@given(
    rv=st.sampled_from([V1, V10, V12]),
    sender_level=st.integers(0, 100),
    others=st.dictionaries(st.sampled_from([CHARLIE, DAVE]), st.integers(-10, 100), max_size=2),
    new_users=st.dictionaries(st.sampled_from([BOB, CHARLIE, DAVE]), _levels, max_size=3),
)
def test_power_levels_never_raise_anyone_above_sender(
    rv: RoomVersion, sender_level: int, others: dict[str, int], new_users: dict[str, int]
) -> None:
    room = RoomBuilder(rv)
    room.join(BOB)
    room.set_power(ALICE, {BOB: sender_level, **others})
    old_users = current_pl(room)["users"]
    event = propose_pl(room, BOB, {**current_pl(room), "users": new_users})
    try:
        check_auth_rules(event, room.state)
    except AuthRuleViolation:
        return
    for user_id, level in new_users.items():
        if old_users.get(user_id) == level:
            continue  # unchanged entries may stay above the sender
        assert level <= sender_level
        if user_id != BOB and user_id in old_users:
            assert old_users[user_id] < sender_level
    for user_id in old_users.keys() - new_users.keys():
        # Removing another user's entry is only allowed below the sender.
        assert user_id == BOB or old_users[user_id] < sender_level
