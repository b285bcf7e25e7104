"""The authorization rule for ``m.room.member`` events.

One function per membership (join, invite, leave, ban, knock), each following
the sub-rules of the spec in order. Version differences:

* v7+: the ``knock`` join rule and membership; leaving from ``knock``.
* v8+: the ``restricted`` join rule with ``join_authorised_via_users_server``.
* v10+: the ``knock_restricted`` join rule.
* v11+: the creator of the "first join" rule is the create event's sender
  (before: ``content.creator``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.core.auth.power import CREATE_KEY, PowerLevels
from homeserver.core.auth.third_party import (
    ThirdPartySignatureVerifier,
    public_keys_of,
    verify_third_party_signature,
)
from homeserver.core.errors import AuthRuleViolation
from homeserver.core.events import PDU, StateKey
from homeserver.core.room_versions import RoomVersion

_RULE = "membership"

#: When the room has no ``m.room.join_rules`` event, it behaves as ``invite``
#: (what deployed servers do; the spec rules would reject every join).
DEFAULT_JOIN_RULE = "invite"


def membership_in(state: Mapping[StateKey, PDU], user_id: str) -> str | None:
    """``user_id``'s current membership in ``state``, or None if never a member."""
    event = state.get(("m.room.member", user_id))
    return event.membership if event is not None else None


def join_rule_in(state: Mapping[StateKey, PDU]) -> str:
    """The room's current ``join_rule``."""
    event = state.get(("m.room.join_rules", ""))
    if event is None:
        return DEFAULT_JOIN_RULE
    rule = event.content.get("join_rule")
    return rule if isinstance(rule, str) else DEFAULT_JOIN_RULE


def check_member_event(
    event: PDU,
    state: Mapping[StateKey, PDU],
    power_levels: PowerLevels,
    verify_third_party_signature: ThirdPartySignatureVerifier | None = None,
) -> None:
    """Checks an ``m.room.member`` event; returning means "allow".

    Args:
        event: the membership event.
        state: the state it is checked against (auth events or room state).
        power_levels: the view over ``state``'s power levels.
        verify_third_party_signature: verifies the ``signed`` block of a
            third-party invite; the built-in ed25519 check when None.

    Raises:
        AuthRuleViolation: the membership change is not allowed.
    """
    target = event.state_key
    membership = event.membership
    if target is None or membership is None:
        raise AuthRuleViolation("member event needs a state_key and a membership", _RULE)
    room_version = event.room_version
    if membership == "join":
        _check_join(event, target, state, power_levels)
    elif membership == "invite":
        _check_invite(event, target, state, power_levels, verify_third_party_signature)
    elif membership == "leave":
        _check_leave(event, target, state, power_levels)
    elif membership == "ban":
        _check_ban(event, target, state, power_levels)
    elif membership == "knock" and room_version.knock_join_rule:
        _check_knock(event, target, state)
    else:
        raise AuthRuleViolation(f"unknown membership {membership!r}", _RULE)


def _check_join(
    event: PDU, target: str, state: Mapping[StateKey, PDU], power_levels: PowerLevels
) -> None:
    room_version = event.room_version
    create = state.get(CREATE_KEY)
    if (
        create is not None
        and event.prev_event_ids == (create.event_id,)
        and target == _first_creator(create)
    ):
        # The creator's own join right after the create event.
        return
    if event.sender != target:
        raise AuthRuleViolation("cannot join on behalf of another user", _RULE)
    current = membership_in(state, target)
    if current == "ban":
        raise AuthRuleViolation(f"{target} is banned from the room", _RULE)

    join_rule = join_rule_in(state)
    if join_rule == "invite" or (join_rule == "knock" and room_version.knock_join_rule):
        if current in ("invite", "join"):
            return
        raise AuthRuleViolation(f"join rule is {join_rule} and {target} is not invited", _RULE)
    if _is_restricted(join_rule, room_version):
        if current in ("invite", "join"):
            return
        _check_join_authoriser(event, state, power_levels)
        return
    if join_rule == "public":
        return
    raise AuthRuleViolation(f"cannot join a room with join rule {join_rule!r}", _RULE)


def _first_creator(create: PDU) -> str | None:
    # v11+ "the sender of the m.room.create"; before, content.creator.
    if create.room_version.implicit_room_creator:
        return create.sender
    creator = create.content.get("creator")
    return creator if isinstance(creator, str) else None


def _is_restricted(join_rule: str, room_version: RoomVersion) -> bool:
    return (join_rule == "restricted" and room_version.restricted_join_rule) or (
        join_rule == "knock_restricted" and room_version.knock_restricted_join_rule
    )


def _check_join_authoriser(
    event: PDU, state: Mapping[StateKey, PDU], power_levels: PowerLevels
) -> None:
    authoriser = event.content.get("join_authorised_via_users_server")
    if not isinstance(authoriser, str):
        raise AuthRuleViolation(
            "restricted join needs join_authorised_via_users_server", "restricted_join"
        )
    # The authorising user must be able to invite, which implies being joined.
    if membership_in(state, authoriser) != "join":
        raise AuthRuleViolation(f"authorising user {authoriser} is not joined", "restricted_join")
    if power_levels.user_level(authoriser) < power_levels.invite:
        raise AuthRuleViolation(f"authorising user {authoriser} cannot invite", "restricted_join")


def _check_invite(
    event: PDU,
    target: str,
    state: Mapping[StateKey, PDU],
    power_levels: PowerLevels,
    verify: ThirdPartySignatureVerifier | None,
) -> None:
    if "third_party_invite" in event.content:
        _check_third_party_invite(event, target, state, verify)
        return
    if membership_in(state, event.sender) != "join":
        raise AuthRuleViolation(f"inviter {event.sender} is not joined", _RULE)
    current = membership_in(state, target)
    if current in ("join", "ban"):
        raise AuthRuleViolation(f"cannot invite {target}: membership is {current}", _RULE)
    if power_levels.user_level(event.sender) < power_levels.invite:
        raise AuthRuleViolation(f"{event.sender} lacks the invite level", _RULE)


def _check_third_party_invite(
    event: PDU,
    target: str,
    state: Mapping[StateKey, PDU],
    verify: ThirdPartySignatureVerifier | None,
) -> None:
    rule = "third_party_invite"
    if membership_in(state, target) == "ban":
        raise AuthRuleViolation(f"{target} is banned from the room", rule)
    invite = event.content["third_party_invite"]
    signed: Any = invite.get("signed") if isinstance(invite, dict) else None
    if not isinstance(signed, dict):
        raise AuthRuleViolation("third_party_invite has no signed block", rule)
    mxid, token = signed.get("mxid"), signed.get("token")
    if not isinstance(mxid, str) or not isinstance(token, str):
        raise AuthRuleViolation("signed block needs mxid and token", rule)
    if mxid != target:
        raise AuthRuleViolation("signed mxid does not match the state_key", rule)
    tpi = state.get(("m.room.third_party_invite", token))
    if tpi is None:
        raise AuthRuleViolation(f"no m.room.third_party_invite for token {token}", rule)
    if tpi.sender != event.sender:
        raise AuthRuleViolation("sender did not issue the third party invite", rule)
    check = verify if verify is not None else verify_third_party_signature
    if any(check(signed, key) for key in public_keys_of(tpi.content)):
        return
    raise AuthRuleViolation("no valid signature on the third party invite", rule)


def _check_leave(
    event: PDU, target: str, state: Mapping[StateKey, PDU], power_levels: PowerLevels
) -> None:
    current = membership_in(state, target)
    if event.sender == target:
        # v7+: a knock can be withdrawn.
        may_leave = {"invite", "join"} | (
            {"knock"} if event.room_version.knock_join_rule else set()
        )
        if current in may_leave:
            return
        raise AuthRuleViolation(f"cannot leave: membership is {current}", _RULE)
    if membership_in(state, event.sender) != "join":
        raise AuthRuleViolation(f"{event.sender} is not joined", _RULE)
    sender_level = power_levels.user_level(event.sender)
    if current == "ban" and sender_level < power_levels.ban:
        raise AuthRuleViolation(f"{event.sender} lacks the ban level to unban", _RULE)
    if sender_level >= power_levels.kick and power_levels.user_level(target) < sender_level:
        return
    raise AuthRuleViolation(f"{event.sender} cannot kick {target}", _RULE)


def _check_ban(
    event: PDU, target: str, state: Mapping[StateKey, PDU], power_levels: PowerLevels
) -> None:
    if membership_in(state, event.sender) != "join":
        raise AuthRuleViolation(f"{event.sender} is not joined", _RULE)
    sender_level = power_levels.user_level(event.sender)
    if sender_level >= power_levels.ban and power_levels.user_level(target) < sender_level:
        return
    raise AuthRuleViolation(f"{event.sender} cannot ban {target}", _RULE)


def _check_knock(event: PDU, target: str, state: Mapping[StateKey, PDU]) -> None:
    join_rule = join_rule_in(state)
    knockable = join_rule == "knock" or (
        join_rule == "knock_restricted" and event.room_version.knock_restricted_join_rule
    )
    if not knockable:
        raise AuthRuleViolation(f"cannot knock with join rule {join_rule!r}", _RULE)
    if event.sender != target:
        raise AuthRuleViolation("cannot knock on behalf of another user", _RULE)
    current = membership_in(state, target)
    if current in ("ban", "invite", "join"):
        raise AuthRuleViolation(f"cannot knock: membership is {current}", _RULE)
