"""The authorization rules other than membership and power levels changes."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from homeserver.core.auth import (
    auth_types_for_event,
    check_auth_events,
    check_auth_rules,
    check_redaction_allowed,
    check_state_independent,
)
from homeserver.core.errors import AuthRuleViolation
from homeserver.core.events import PDU, StateKey
from homeserver.core.room_versions import (
    KNOWN_ROOM_VERSIONS,
    V1,
    V3,
    V5,
    V6,
    V10,
    V11,
    V12,
    RoomVersion,
)
from tests.core.roomdsl import ALICE, BOB, CHARLIE, DAVE, RoomBuilder, make_pdu

ALL_VERSIONS = list(KNOWN_ROOM_VERSIONS.values())


def violation(event: PDU, state: Mapping[StateKey, PDU]) -> str | None:
    """The rule that rejects ``event`` against ``state``, or None if allowed."""
    try:
        check_auth_rules(event, state)
    except AuthRuleViolation as e:
        return e.rule
    return None


def independent_violation(event: PDU) -> str | None:
    try:
        check_state_independent(event)
    except AuthRuleViolation as e:
        return e.rule
    return None


# --- m.room.create -----------------------------------------------------------


@pytest.mark.parametrize("rv", ALL_VERSIONS, ids=lambda v: f"v{v.identifier}")
def test_create_allowed_when_built_by_room_builder(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    assert violation(room.create_event, {}) is None
    assert independent_violation(room.create_event) is None


def _create(rv: RoomVersion, **overrides: object) -> PDU:
    content: dict[str, object] = {"room_version": rv.identifier}
    if not rv.implicit_room_creator:
        content["creator"] = ALICE
    kwargs: dict[str, object] = {
        "room_id": None if rv.room_id_from_create_event else "!r:example.org",
        "sender": ALICE,
        "type": "m.room.create",
        "content": content,
        "state_key": "",
    }
    kwargs.update(overrides)
    return make_pdu(rv, "$create:example.org", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("rv", [V1, V6, V11, V12], ids=lambda v: f"v{v.identifier}")
def test_create_rejected_when_it_has_prev_events(rv: RoomVersion) -> None:
    assert violation(_create(rv, prev_events=["$x:example.org"]), {}) == "create"


@pytest.mark.parametrize("rv", [V1, V6, V10, V11], ids=lambda v: f"v{v.identifier}")
def test_create_rejected_when_room_id_server_differs_from_sender(rv: RoomVersion) -> None:
    assert violation(_create(rv, room_id="!r:other.example"), {}) == "create"


def test_create_rejected_when_v12_create_has_room_id() -> None:
    assert violation(_create(V12, room_id="!r:example.org"), {}) == "create"


@pytest.mark.parametrize("rv", [V1, V10, V12], ids=lambda v: f"v{v.identifier}")
def test_create_rejected_when_room_version_unknown(rv: RoomVersion) -> None:
    assert violation(_create(rv, content={"room_version": "99", "creator": ALICE}), {}) == "create"


@pytest.mark.parametrize(
    ("rv", "expected"), [(V1, "create"), (V10, "create"), (V11, None), (V12, None)]
)
def test_create_needs_creator_only_before_v11(rv: RoomVersion, expected: str | None) -> None:
    assert violation(_create(rv, content={"room_version": rv.identifier}), {}) == expected


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([BOB, CHARLIE], None),
        ([], None),
        ("@bob:example.org", "create"),
        ([BOB, 3], "create"),
        (["bob"], "create"),
    ],
)
def test_create_additional_creators_must_be_user_ids_in_v12(
    extra: object, expected: str | None
) -> None:
    event = _create(V12, content={"additional_creators": extra})
    assert violation(event, {}) == expected


def test_create_additional_creators_ignored_before_v12() -> None:
    event = _create(V11, content={"additional_creators": "junk"})
    assert violation(event, {}) is None


# --- auth events and the create event of the room ----------------------------


@pytest.mark.parametrize("rv", [V1, V10, V11], ids=lambda v: f"v{v.identifier}")
def test_event_rejected_when_create_missing_from_auth_state(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    event = room.propose(ALICE, "m.room.message", {"body": "x"})
    state = dict(room.state)
    del state[("m.room.create", "")]
    assert violation(event, state) == "auth_events"


def test_event_rejected_when_create_is_of_another_room() -> None:
    room = RoomBuilder(V10)
    other = RoomBuilder(V10, creator=DAVE)
    event = room.propose(ALICE, "m.room.message", {"body": "x"})
    state = {**room.state, ("m.room.create", ""): other.create_event}
    assert violation(event, state) == "room_id"


def test_event_rejected_when_v12_room_id_does_not_name_create() -> None:
    room = RoomBuilder(V12)
    other = RoomBuilder(V12, creator=BOB)
    event = room.propose(ALICE, "m.room.message", {"body": "x"})
    state = {**room.state, ("m.room.create", ""): other.create_event}
    assert violation(event, state) == "room_id"


@pytest.mark.parametrize("rv", [V10, V12], ids=lambda v: f"v{v.identifier}")
def test_auth_events_accepted_when_selected_by_builder(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    event = room.join(BOB)
    check_auth_events(event, [room.event(i) for i in event.auth_event_ids])


def test_auth_events_rejected_when_duplicated() -> None:
    room = RoomBuilder(V10)
    first_pl = room.state[("m.room.power_levels", "")]
    room.set_power(ALICE, {BOB: 10})
    event = room.message(ALICE)
    auth = [room.event(i) for i in event.auth_event_ids] + [first_pl]
    with pytest.raises(AuthRuleViolation, match="duplicate"):
        check_auth_events(event, auth)


def test_auth_events_rejected_when_not_selected() -> None:
    room = RoomBuilder(V10)
    event = room.message(ALICE)
    auth = [room.event(i) for i in event.auth_event_ids]
    auth.append(room.state[("m.room.join_rules", "")])
    with pytest.raises(AuthRuleViolation, match="unexpected"):
        check_auth_events(event, auth)


def test_auth_events_rejected_when_create_missing_before_v12() -> None:
    room = RoomBuilder(V11)
    event = room.message(ALICE)
    auth = [room.event(i) for i in event.auth_event_ids if "create" not in i]
    with pytest.raises(AuthRuleViolation, match=r"no m\.room\.create"):
        check_auth_events(event, auth)


def test_auth_events_rejected_when_v12_lists_create() -> None:
    room = RoomBuilder(V12)
    event = room.message(ALICE)
    auth = [room.event(i) for i in event.auth_event_ids] + [room.create_event]
    with pytest.raises(AuthRuleViolation, match="unexpected"):
        check_auth_events(event, auth)


def test_auth_events_rejected_when_from_another_room() -> None:
    room = RoomBuilder(V10)
    other = RoomBuilder(V10, creator=DAVE)
    event = room.message(ALICE)
    pl_key = ("m.room.power_levels", "")
    auth = [room.create_event, room.state[("m.room.member", ALICE)], other.state[pl_key]]
    with pytest.raises(AuthRuleViolation, match="another room"):
        check_auth_events(event, auth)


# --- auth events selection ----------------------------------------------------


@pytest.mark.parametrize(("rv", "has_create"), [(V1, True), (V10, True), (V11, True), (V12, False)])
def test_auth_types_include_create_except_v12(rv: RoomVersion, has_create: bool) -> None:
    keys = auth_types_for_event(rv, "m.room.message", None, ALICE, {})
    assert (("m.room.create", "") in keys) is has_create
    assert {("m.room.power_levels", ""), ("m.room.member", ALICE)} <= keys


def test_auth_types_empty_for_create() -> None:
    assert auth_types_for_event(V10, "m.room.create", "", ALICE, {}) == set()


@pytest.mark.parametrize(
    ("membership", "has_join_rules"),
    [("join", True), ("invite", True), ("knock", True), ("leave", False), ("ban", False)],
)
def test_auth_types_of_membership_include_target_and_join_rules(
    membership: str, has_join_rules: bool
) -> None:
    keys = auth_types_for_event(V10, "m.room.member", BOB, ALICE, {"membership": membership})
    assert ("m.room.member", BOB) in keys
    assert (("m.room.join_rules", "") in keys) is has_join_rules


def test_auth_types_include_third_party_invite_token() -> None:
    content = {"membership": "invite", "third_party_invite": {"signed": {"token": "tok"}}}
    keys = auth_types_for_event(V10, "m.room.member", BOB, ALICE, content)
    assert ("m.room.third_party_invite", "tok") in keys


@pytest.mark.parametrize(("rv", "included"), [(V6, False), (V10, True)])
def test_auth_types_include_authorising_user_from_v8(rv: RoomVersion, included: bool) -> None:
    content = {"membership": "join", "join_authorised_via_users_server": CHARLIE}
    keys = auth_types_for_event(rv, "m.room.member", BOB, BOB, content)
    assert (("m.room.member", CHARLIE) in keys) is included


# --- m.federate, aliases, sender membership, levels -------------------------


def test_event_rejected_when_room_does_not_federate_and_sender_is_remote() -> None:
    room = RoomBuilder(V10, create_content={"m.federate": False})
    event = room.propose(DAVE, "m.room.member", {"membership": "join"}, DAVE)
    assert violation(event, room.state) == "federate"
    local = room.propose(BOB, "m.room.member", {"membership": "join"}, BOB)
    assert violation(local, room.state) is None


@pytest.mark.parametrize(("rv", "expected"), [(V1, None), (V5, None), (V6, "sender_joined")])
def test_aliases_allowed_for_own_server_without_membership_until_v6(
    rv: RoomVersion, expected: str | None
) -> None:
    room = RoomBuilder(rv)
    event = room.propose(DAVE, "m.room.aliases", {"aliases": []}, "other.example")
    assert violation(event, room.state) == expected


def test_aliases_rejected_when_state_key_is_another_server_before_v6() -> None:
    room = RoomBuilder(V3)
    event = room.propose(DAVE, "m.room.aliases", {"aliases": []}, "example.org")
    assert violation(event, room.state) == "aliases"


@pytest.mark.parametrize("rv", ALL_VERSIONS, ids=lambda v: f"v{v.identifier}")
def test_message_rejected_when_sender_not_joined(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    assert violation(room.propose(BOB, "m.room.message", {}), room.state) == "sender_joined"
    room.join(BOB)
    assert violation(room.propose(BOB, "m.room.message", {}), room.state) is None
    room.leave(BOB)
    assert violation(room.propose(BOB, "m.room.message", {}), room.state) == "sender_joined"


def test_state_event_rejected_when_below_state_default() -> None:
    room = RoomBuilder(V10)
    room.join(BOB)
    event = room.propose(BOB, "m.room.topic", {"topic": "t"}, "")
    assert violation(event, room.state) == "event_level"
    room.set_power(ALICE, {BOB: 50})
    assert violation(event, room.state) is None


def test_event_level_from_events_overrides_defaults() -> None:
    room = RoomBuilder(V10)
    room.join(BOB)
    room.set_power(ALICE, {}, events={"m.room.message": 20, "m.room.topic": 0})
    assert violation(room.propose(BOB, "m.room.message", {}), room.state) == "event_level"
    assert violation(room.propose(BOB, "m.room.topic", {}, ""), room.state) is None


def test_state_default_is_50_without_power_levels_event() -> None:
    room = RoomBuilder(V10)
    room.join(BOB)
    state = dict(room.state)
    del state[("m.room.power_levels", "")]
    assert violation(room.propose(BOB, "m.room.topic", {}, ""), state) == "event_level"
    assert violation(room.propose(BOB, "m.room.message", {}), state) is None
    assert violation(room.propose(ALICE, "m.room.topic", {}, ""), state) is None


def test_state_key_of_another_user_rejected() -> None:
    room = RoomBuilder(V10)
    assert violation(room.propose(ALICE, "m.custom", {}, BOB), room.state) == "user_state_key"
    assert violation(room.propose(ALICE, "m.custom", {}, ALICE), room.state) is None
    assert violation(room.propose(ALICE, "m.custom", {}, "not@user"), room.state) is None


def test_third_party_invite_event_needs_invite_level() -> None:
    room = RoomBuilder(V10)
    room.join(BOB)
    room.set_power(ALICE, {}, invite=10)
    event = room.propose(BOB, "m.room.third_party_invite", {"display_name": "x"}, "tok")
    assert violation(event, room.state) == "third_party_invite"
    room.set_power(ALICE, {BOB: 10})
    assert violation(event, room.state) is None


# --- redactions ---------------------------------------------------------------


def test_v1_redaction_rejected_when_other_server_below_redact_level() -> None:
    room = RoomBuilder(V1)
    room.join(BOB)
    room.join(DAVE)
    target = room.message(BOB)
    event = room.propose(DAVE, "m.room.redaction", {}, redacts=target.event_id)
    assert violation(event, room.state) == "redaction"
    own = room.propose(BOB, "m.room.redaction", {}, redacts=target.event_id)
    assert violation(own, room.state) is None
    room.set_power(ALICE, {DAVE: 50})
    assert violation(event, room.state) is None


@pytest.mark.parametrize("rv", [V3, V10, V11, V12], ids=lambda v: f"v{v.identifier}")
def test_redaction_allowed_by_auth_rules_from_v3(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    room.join(DAVE)
    target = room.message(ALICE)
    event = room.propose(DAVE, "m.room.redaction", {}, redacts=target.event_id)
    assert violation(event, room.state) is None
    with pytest.raises(AuthRuleViolation):
        check_redaction_allowed(event, target, room.state)


@pytest.mark.parametrize("rv", [V1, V3, V10, V11, V12], ids=lambda v: f"v{v.identifier}")
def test_redaction_applied_when_same_server_or_redact_level(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    room.join(BOB)
    room.join(DAVE)
    target = room.message(BOB)
    same_server = room.propose(ALICE, "m.room.redaction", {}, redacts=target.event_id)
    check_redaction_allowed(same_server, target, room.state)
    room.set_power(ALICE, {DAVE: 50})
    moderator = room.propose(DAVE, "m.room.redaction", {}, redacts=target.event_id)
    check_redaction_allowed(moderator, target, room.state)


def test_redaction_rejected_when_target_in_another_room() -> None:
    room = RoomBuilder(V10)
    other = RoomBuilder(V10, creator=DAVE)
    target = other.message(DAVE)
    event = room.propose(ALICE, "m.room.redaction", {}, redacts=target.event_id)
    with pytest.raises(AuthRuleViolation, match="another room"):
        check_redaction_allowed(event, target, room.state)


# --- state-independent checks ------------------------------------------------


def test_state_independent_rejected_when_sender_server_signature_missing() -> None:
    room = RoomBuilder(V10)
    event = room.propose(ALICE, "m.room.message", {}, extra={"signatures": {}})
    assert independent_violation(event) == "signatures"
    check_state_independent(event, check_signatures=False)


def test_state_independent_needs_authorising_server_signature() -> None:
    room = RoomBuilder(V10)
    content = {"membership": "join", "join_authorised_via_users_server": DAVE}
    event = room.propose(BOB, "m.room.member", content, BOB)
    assert independent_violation(event) is None
    unsigned = room.propose(
        BOB,
        "m.room.member",
        content,
        BOB,
        extra={"signatures": {"example.org": {"ed25519:a": "x"}}},
    )
    assert independent_violation(unsigned) == "signatures"


def test_state_independent_rejects_member_without_membership() -> None:
    room = RoomBuilder(V10)
    event = room.propose(BOB, "m.room.member", {}, BOB)
    assert independent_violation(event) == "membership"
    assert violation(event, room.state) == "membership"


@pytest.mark.parametrize(("rv", "expected"), [(V11, "event_level"), (V12, None)])
def test_creator_unlisted_in_power_levels_has_power_only_in_v12(
    rv: RoomVersion, expected: str | None
) -> None:
    room = RoomBuilder(rv, power_levels={"users": {}}, join_rule=None)
    topic = room.propose(ALICE, "m.room.topic", {"topic": "t"}, "")
    assert violation(topic, room.state) == expected


def test_v11_creator_from_sender_has_100_without_power_levels() -> None:
    room = RoomBuilder(V11, power_levels=None)
    state = dict(room.state)
    del state[("m.room.power_levels", "")]
    assert violation(room.propose(ALICE, "m.room.topic", {}, ""), state) is None
    assert room.create_event.content.get("creator") is None
