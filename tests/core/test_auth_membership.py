"""The ``m.room.member`` authorization rule across room versions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from signedjson.key import generate_signing_key, get_verify_key
from signedjson.sign import sign_json
from unpaddedbase64 import encode_base64

from homeserver.core.auth import check_auth_rules
from homeserver.core.errors import AuthRuleViolation
from homeserver.core.events import PDU, StateKey
from homeserver.core.room_versions import (
    KNOWN_ROOM_VERSIONS,
    V1,
    V6,
    V7,
    V8,
    V10,
    V11,
    V12,
    RoomVersion,
)
from tests.core.roomdsl import ALICE, BOB, CHARLIE, DAVE, EVE, RoomBuilder, make_pdu

ALL_VERSIONS = list(KNOWN_ROOM_VERSIONS.values())


def violation(event: PDU, state: Mapping[StateKey, PDU]) -> str | None:
    try:
        check_auth_rules(event, state)
    except AuthRuleViolation as e:
        return e.rule
    return None


def member(
    room: RoomBuilder,
    sender: str,
    target: str,
    membership: str,
    *,
    prev_events: list[str] | None = None,
    **content: Any,
) -> PDU:
    body = {"membership": membership, **content}
    return room.propose(sender, "m.room.member", body, target, prev_events=prev_events)


# --- join ---------------------------------------------------------------------


@pytest.mark.parametrize("rv", ALL_VERSIONS, ids=lambda v: f"v{v.identifier}")
def test_creator_first_join_allowed_after_create(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    join = room.events[1]
    assert join.prev_event_ids == (room.create_event.event_id,)
    assert violation(join, {("m.room.create", ""): room.create_event}) is None


@pytest.mark.parametrize("rv", [V1, V10, V11, V12], ids=lambda v: f"v{v.identifier}")
def test_first_join_rejected_for_non_creator(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    event = member(room, BOB, BOB, "join", prev_events=[room.create_event.event_id])
    assert violation(event, {("m.room.create", ""): room.create_event}) == "membership"


def test_first_join_uses_content_creator_before_v11() -> None:
    # Before v11 the creator is content.creator, whoever sent the create event.
    room = RoomBuilder(V10, create_content={"creator": BOB}, check=False)
    create = room.create_event
    bob = member(room, BOB, BOB, "join", prev_events=[create.event_id])
    alice = member(room, ALICE, ALICE, "join", prev_events=[create.event_id])
    state = {("m.room.create", ""): create}
    assert violation(bob, state) is None
    assert violation(alice, state) == "membership"


@pytest.mark.parametrize("rv", ALL_VERSIONS, ids=lambda v: f"v{v.identifier}")
def test_join_public_room_allowed(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    assert violation(member(room, BOB, BOB, "join"), room.state) is None


def test_join_rejected_when_sender_is_not_target() -> None:
    room = RoomBuilder(V10)
    assert violation(member(room, ALICE, BOB, "join"), room.state) == "membership"


def test_join_rejected_when_banned() -> None:
    room = RoomBuilder(V10)
    room.join(BOB)
    room.ban(ALICE, BOB)
    assert violation(member(room, BOB, BOB, "join"), room.state) == "membership"


@pytest.mark.parametrize("rv", [V1, V7, V10, V12], ids=lambda v: f"v{v.identifier}")
def test_join_invite_only_room_needs_invite(rv: RoomVersion) -> None:
    room = RoomBuilder(rv, join_rule="invite")
    assert violation(member(room, BOB, BOB, "join"), room.state) == "membership"
    room.invite(ALICE, BOB)
    assert violation(member(room, BOB, BOB, "join"), room.state) is None


def test_join_without_join_rules_event_behaves_as_invite() -> None:
    room = RoomBuilder(V10, join_rule=None)
    assert violation(member(room, BOB, BOB, "join"), room.state) == "membership"
    room.invite(ALICE, BOB)
    assert violation(member(room, BOB, BOB, "join"), room.state) is None


@pytest.mark.parametrize(("rv", "expected"), [(V6, "membership"), (V7, None), (V12, None)])
def test_join_knock_room_with_invite_allowed_from_v7(rv: RoomVersion, expected: str | None) -> None:
    room = RoomBuilder(rv, join_rule="knock")
    room.invite(ALICE, BOB)
    assert violation(member(room, BOB, BOB, "join"), room.state) == expected


@pytest.mark.parametrize("rv", [V1, V10], ids=lambda v: f"v{v.identifier}")
def test_join_private_room_rejected(rv: RoomVersion) -> None:
    room = RoomBuilder(rv, join_rule="private")
    assert violation(member(room, BOB, BOB, "join"), room.state) == "membership"


# --- restricted joins ----------------------------------------------------------


def _restricted_room(rv: RoomVersion, rule: str = "restricted") -> RoomBuilder:
    room = RoomBuilder(rv)
    room.join(CHARLIE)
    room.set_join_rule(ALICE, rule)
    return room


@pytest.mark.parametrize(
    ("rv", "rule"),
    [(V8, "restricted"), (V10, "restricted"), (V10, "knock_restricted"), (V12, "restricted")],
)
def test_restricted_join_allowed_when_authorised_by_inviter(rv: RoomVersion, rule: str) -> None:
    room = _restricted_room(rv, rule)
    room.set_power(ALICE, {CHARLIE: 0})
    ok = member(room, BOB, BOB, "join", join_authorised_via_users_server=CHARLIE)
    assert violation(ok, room.state) is None
    missing = member(room, BOB, BOB, "join")
    assert violation(missing, room.state) == "restricted_join"


@pytest.mark.parametrize(("rv", "expected"), [(V7, "membership"), (V8, None)])
def test_restricted_join_rule_exists_from_v8(rv: RoomVersion, expected: str | None) -> None:
    room = _restricted_room(rv)
    event = member(room, BOB, BOB, "join", join_authorised_via_users_server=ALICE)
    assert violation(event, room.state) == expected


@pytest.mark.parametrize(("rv", "expected"), [(V8, "membership"), (V10, None)])
def test_knock_restricted_join_rule_exists_from_v10(rv: RoomVersion, expected: str | None) -> None:
    room = _restricted_room(rv, "knock_restricted")
    event = member(room, BOB, BOB, "join", join_authorised_via_users_server=ALICE)
    assert violation(event, room.state) == expected


def test_restricted_join_rejected_when_authoriser_cannot_invite() -> None:
    room = _restricted_room(V10)
    room.set_power(ALICE, {}, invite=50)
    event = member(room, BOB, BOB, "join", join_authorised_via_users_server=CHARLIE)
    assert violation(event, room.state) == "restricted_join"


def test_restricted_join_rejected_when_authoriser_not_joined() -> None:
    room = _restricted_room(V10)
    room.leave(CHARLIE)
    event = member(room, BOB, BOB, "join", join_authorised_via_users_server=CHARLIE)
    assert violation(event, room.state) == "restricted_join"


def test_restricted_join_allowed_without_authoriser_when_invited() -> None:
    room = _restricted_room(V10)
    room.invite(ALICE, BOB)
    assert violation(member(room, BOB, BOB, "join"), room.state) is None


# --- invite ---------------------------------------------------------------------


@pytest.mark.parametrize("rv", ALL_VERSIONS, ids=lambda v: f"v{v.identifier}")
def test_invite_allowed_from_joined_member_with_invite_level(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    assert violation(member(room, ALICE, BOB, "invite"), room.state) is None


def test_invite_rejected_when_sender_not_joined() -> None:
    room = RoomBuilder(V10)
    assert violation(member(room, CHARLIE, BOB, "invite"), room.state) == "membership"


@pytest.mark.parametrize("target_state", ["join", "ban"])
def test_invite_rejected_when_target_joined_or_banned(target_state: str) -> None:
    room = RoomBuilder(V10)
    room.join(BOB)
    if target_state == "ban":
        room.ban(ALICE, BOB)
    assert violation(member(room, ALICE, BOB, "invite"), room.state) == "membership"


def test_invite_rejected_when_below_invite_level() -> None:
    room = RoomBuilder(V10)
    room.join(CHARLIE)
    room.set_power(ALICE, {}, invite=10)
    assert violation(member(room, CHARLIE, BOB, "invite"), room.state) == "membership"
    room.set_power(ALICE, {CHARLIE: 10})
    assert violation(member(room, CHARLIE, BOB, "invite"), room.state) is None


# --- third party invites -----------------------------------------------------------


class _IdentityServer:
    def __init__(self) -> None:
        self.key = generate_signing_key("0")
        self.public_key = encode_base64(get_verify_key(self.key).encode())

    def signed(self, mxid: str, token: str) -> dict[str, Any]:
        return sign_json({"mxid": mxid, "token": token}, "id.example", self.key)


def _tpi_room(rv: RoomVersion, ids: _IdentityServer) -> RoomBuilder:
    room = RoomBuilder(rv)
    room.send(ALICE, "m.room.third_party_invite", {"public_key": ids.public_key}, "tok")
    return room


@pytest.mark.parametrize("rv", [V1, V10, V11, V12], ids=lambda v: f"v{v.identifier}")
def test_third_party_invite_allowed_with_valid_signature(rv: RoomVersion) -> None:
    ids = _IdentityServer()
    room = _tpi_room(rv, ids)
    tpi = {"display_name": "b", "signed": ids.signed(BOB, "tok")}
    event = member(room, ALICE, BOB, "invite", third_party_invite=tpi)
    assert violation(event, room.state) is None


def test_third_party_invite_accepts_key_from_public_keys_list() -> None:
    ids = _IdentityServer()
    room = RoomBuilder(V10)
    content = {"public_key": "AAAA", "public_keys": [{"public_key": ids.public_key}]}
    room.send(ALICE, "m.room.third_party_invite", content, "tok")
    tpi = {"signed": ids.signed(BOB, "tok")}
    assert violation(member(room, ALICE, BOB, "invite", third_party_invite=tpi), room.state) is None


def test_third_party_invite_rejected_with_signature_of_other_key() -> None:
    room = _tpi_room(V10, _IdentityServer())
    tpi = {"signed": _IdentityServer().signed(BOB, "tok")}
    event = member(room, ALICE, BOB, "invite", third_party_invite=tpi)
    assert violation(event, room.state) == "third_party_invite"


@pytest.mark.parametrize(
    "signed",
    [
        None,
        {"token": "tok"},
        {"mxid": BOB},
        {"mxid": CHARLIE, "token": "tok"},
        {"mxid": BOB, "token": "nope"},
    ],
)
def test_third_party_invite_rejected_when_signed_block_wrong(signed: object) -> None:
    room = _tpi_room(V10, _IdentityServer())
    tpi = {} if signed is None else {"signed": signed}
    event = member(room, ALICE, BOB, "invite", third_party_invite=tpi)
    assert violation(event, room.state) == "third_party_invite"


def test_third_party_invite_rejected_when_sender_did_not_issue_it() -> None:
    ids = _IdentityServer()
    room = _tpi_room(V10, ids)
    room.join(CHARLIE)
    event = member(
        room, CHARLIE, BOB, "invite", third_party_invite={"signed": ids.signed(BOB, "tok")}
    )
    assert violation(event, room.state) == "third_party_invite"


def test_third_party_invite_rejected_when_target_banned() -> None:
    ids = _IdentityServer()
    room = _tpi_room(V10, ids)
    room.ban(ALICE, BOB)
    event = member(
        room, ALICE, BOB, "invite", third_party_invite={"signed": ids.signed(BOB, "tok")}
    )
    assert violation(event, room.state) == "third_party_invite"


def test_third_party_invite_uses_given_verifier() -> None:
    room = _tpi_room(V10, _IdentityServer())
    event = member(
        room, ALICE, BOB, "invite", third_party_invite={"signed": {"mxid": BOB, "token": "tok"}}
    )
    seen: list[str] = []

    def verify(signed: Mapping[str, Any], key: str) -> bool:
        seen.append(key)
        return True

    check_auth_rules(event, room.state, verify_third_party_signature=verify)
    assert len(seen) == 1


# --- leave, kick, ban ---------------------------------------------------------------


@pytest.mark.parametrize("rv", ALL_VERSIONS, ids=lambda v: f"v{v.identifier}")
def test_leave_allowed_when_joined_or_invited(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    assert violation(member(room, BOB, BOB, "leave"), room.state) == "membership"
    room.invite(ALICE, BOB)
    assert violation(member(room, BOB, BOB, "leave"), room.state) is None
    room.join(BOB)
    assert violation(member(room, BOB, BOB, "leave"), room.state) is None


def test_leave_rejected_when_banned() -> None:
    room = RoomBuilder(V10)
    room.join(BOB)
    room.ban(ALICE, BOB)
    assert violation(member(room, BOB, BOB, "leave"), room.state) == "membership"


@pytest.mark.parametrize(("rv", "expected"), [(V6, "membership"), (V7, None)])
def test_leave_from_knock_allowed_from_v7(rv: RoomVersion, expected: str | None) -> None:
    room = RoomBuilder(rv, join_rule="knock" if rv.knock_join_rule else "invite", check=False)
    room.knock(BOB)
    assert violation(member(room, BOB, BOB, "leave"), room.state) == expected


def test_kick_needs_kick_level_and_higher_level_than_target() -> None:
    room = RoomBuilder(V10)
    room.join(BOB)
    room.join(CHARLIE)
    assert violation(member(room, BOB, CHARLIE, "leave"), room.state) == "membership"
    room.set_power(ALICE, {BOB: 50, CHARLIE: 50})
    assert violation(member(room, BOB, CHARLIE, "leave"), room.state) == "membership"
    room.set_power(ALICE, {CHARLIE: 49})
    assert violation(member(room, BOB, CHARLIE, "leave"), room.state) is None


def test_kick_rejected_when_sender_not_joined() -> None:
    room = RoomBuilder(V10)
    room.join(BOB)
    room.set_power(ALICE, {CHARLIE: 100})
    assert violation(member(room, CHARLIE, BOB, "leave"), room.state) == "membership"


def test_unban_needs_ban_level_as_well_as_kick_level() -> None:
    room = RoomBuilder(V10)
    room.join(BOB)
    room.join(CHARLIE)
    room.ban(ALICE, CHARLIE)
    room.set_power(ALICE, {BOB: 60}, ban=70, kick=50)
    assert violation(member(room, BOB, CHARLIE, "leave"), room.state) == "membership"
    room.set_power(ALICE, {BOB: 70})
    assert violation(member(room, BOB, CHARLIE, "leave"), room.state) is None


@pytest.mark.parametrize("rv", ALL_VERSIONS, ids=lambda v: f"v{v.identifier}")
def test_ban_needs_ban_level_and_higher_level_than_target(rv: RoomVersion) -> None:
    room = RoomBuilder(rv)
    room.join(BOB)
    room.join(CHARLIE)
    assert violation(member(room, BOB, CHARLIE, "ban"), room.state) == "membership"
    room.set_power(ALICE, {BOB: 50})
    assert violation(member(room, BOB, CHARLIE, "ban"), room.state) is None
    assert violation(member(room, BOB, ALICE, "ban"), room.state) == "membership"
    assert violation(member(room, BOB, DAVE, "ban"), room.state) is None


def test_ban_rejected_when_sender_not_joined() -> None:
    room = RoomBuilder(V10)
    room.set_power(ALICE, {BOB: 100})
    assert violation(member(room, BOB, CHARLIE, "ban"), room.state) == "membership"


def test_v12_creators_cannot_be_kicked_or_banned_by_each_other() -> None:
    room = RoomBuilder(V12, additional_creators=[BOB])
    room.join(BOB)
    assert violation(member(room, ALICE, BOB, "ban"), room.state) == "membership"
    assert violation(member(room, BOB, ALICE, "leave"), room.state) == "membership"
    room.join(CHARLIE)
    assert violation(member(room, BOB, CHARLIE, "ban"), room.state) is None


# --- knock and unknown memberships ---------------------------------------------------


@pytest.mark.parametrize(
    ("rv", "rule", "expected"),
    [
        (V6, "knock", "membership"),
        (V7, "knock", None),
        (V7, "public", "membership"),
        (V8, "knock_restricted", "membership"),
        (V10, "knock_restricted", None),
        (V12, "knock", None),
    ],
)
def test_knock_depends_on_join_rule_and_version(
    rv: RoomVersion, rule: str, expected: str | None
) -> None:
    room = RoomBuilder(rv, join_rule=rule)
    assert violation(member(room, BOB, BOB, "knock"), room.state) == expected


@pytest.mark.parametrize("current", ["invite", "join", "ban"])
def test_knock_rejected_when_invited_joined_or_banned(current: str) -> None:
    room = RoomBuilder(V10, join_rule="knock")
    room.invite(ALICE, BOB)
    if current == "join":
        room.join(BOB)
    elif current == "ban":
        room.ban(ALICE, BOB)
    assert violation(member(room, BOB, BOB, "knock"), room.state) == "membership"


def test_knock_rejected_on_behalf_of_another_user() -> None:
    room = RoomBuilder(V10, join_rule="knock")
    assert violation(member(room, ALICE, BOB, "knock"), room.state) == "membership"


@pytest.mark.parametrize("membership", ["dance", ""])
def test_unknown_membership_rejected(membership: str) -> None:
    room = RoomBuilder(V10)
    assert violation(member(room, BOB, BOB, membership), room.state) == "membership"


def test_membership_rejected_when_room_does_not_federate() -> None:
    room = RoomBuilder(V11, create_content={"m.federate": False})
    room.invite(ALICE, EVE)
    assert violation(member(room, EVE, EVE, "join"), room.state) == "federate"


def test_join_allowed_when_built_explicitly_in_v1_format() -> None:
    room = RoomBuilder(V1)
    event = make_pdu(
        V1,
        "$x:example.org",
        room_id=room.room_id,
        sender=BOB,
        type="m.room.member",
        content={"membership": "join"},
        state_key=BOB,
        prev_events=[room.head],
    )
    assert event.prev_event_ids == (room.head,)
    assert violation(event, room.state) is None
