"""The authorization rules of rooms v1 to v12, in the order the spec lists them.

Entry points:

* :func:`auth_types_for_event`: the (type, state_key) pairs an event's
  ``auth_events`` are chosen from ("auth events selection").
* :func:`check_state_independent`: the checks that need no room state: the
  ``m.room.create`` rules, the shape of member events, and which servers must
  have signed the event.
* :func:`check_auth_events`: the rules about an event's own ``auth_events``
  list (duplicates, unexpected entries, other rooms, a missing create event).
* :func:`check_auth_rules`: the full rules against a state map (the event's
  auth events on receipt, or the current state for a new local event).
* :func:`check_redaction_allowed`: the v3+ send-time redaction check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from homeserver.core.auth.membership import check_member_event, membership_in
from homeserver.core.auth.power import (
    CREATE_KEY,
    POWER_LEVELS_KEY,
    PowerLevels,
    is_user_id,
    server_name_of,
)
from homeserver.core.auth.power_rules import check_power_levels_event
from homeserver.core.auth.third_party import ThirdPartySignatureVerifier
from homeserver.core.errors import AuthRuleViolation
from homeserver.core.events import PDU, StateKey
from homeserver.core.room_versions import KNOWN_ROOM_VERSIONS, EventFormat, RoomVersion

AUTH_MEMBERSHIPS = ("join", "invite", "knock")


def auth_types_for_event(
    room_version: RoomVersion,
    event_type: str,
    state_key: str | None,
    sender: str,
    content: Mapping[str, Any],
) -> set[StateKey]:
    """The state keys an event's ``auth_events`` are selected from.

    Args:
        room_version: the room's version.
        event_type: the new event's type.
        state_key: its state key (None for a message).
        sender: its sender.
        content: its content.

    Returns:
        The create event (except in v12, where the room ID names it), the
        power levels, the sender's membership and, for member events, the
        target's membership, the join rules (join, invite, knock), the third
        party invite of a third party invite and the authorising user's
        membership of a restricted join (v8+). Empty for the create event.
    """
    if event_type == "m.room.create":
        return set()
    keys: set[StateKey] = {POWER_LEVELS_KEY, ("m.room.member", sender)}
    if not room_version.room_id_from_create_event:
        keys.add(CREATE_KEY)
    if event_type == "m.room.member" and state_key is not None:
        keys.add(("m.room.member", state_key))
        membership = content.get("membership")
        if membership in AUTH_MEMBERSHIPS:
            keys.add(("m.room.join_rules", ""))
        if membership == "invite":
            invite = content.get("third_party_invite")
            signed = invite.get("signed") if isinstance(invite, dict) else None
            token = signed.get("token") if isinstance(signed, dict) else None
            if isinstance(token, str):
                keys.add(("m.room.third_party_invite", token))
        authoriser = content.get("join_authorised_via_users_server")
        if room_version.restricted_join_rule and isinstance(authoriser, str):
            keys.add(("m.room.member", authoriser))
    return keys


def required_signature_servers(event: PDU) -> set[str]:
    """The servers whose signatures ``event`` must carry.

    The sender's server; in v1/v2 also the server of the event ID; for a
    member event with ``join_authorised_via_users_server`` (v8+), that user's
    server.
    """
    servers = {server_name_of(event.sender)}
    if event.room_version.event_format is EventFormat.V1:
        servers.add(server_name_of(event.event_id))
    authoriser = event.content.get("join_authorised_via_users_server")
    if (
        event.type == "m.room.member"
        and event.room_version.restricted_join_rule
        and isinstance(authoriser, str)
    ):
        servers.add(server_name_of(authoriser))
    return {s for s in servers if s is not None}


def check_state_independent(event: PDU, *, check_signatures: bool = True) -> None:
    """The rules that need no room state.

    Args:
        event: the event to check.
        check_signatures: also require a signature from each server of
            :func:`required_signature_servers` (whether they verify is
            checked where signatures are verified).

    Raises:
        AuthRuleViolation: the event is not allowed whatever the state.
    """
    if check_signatures:
        signatures = event.data.get("signatures")
        signed_by = signatures.keys() if isinstance(signatures, dict) else set()
        missing = required_signature_servers(event) - set(signed_by)
        if missing:
            raise AuthRuleViolation(f"event is not signed by {sorted(missing)}", "signatures")
    if event.type == "m.room.create":
        _check_create(event)
    elif event.type == "m.room.member" and (event.state_key is None or event.membership is None):
        raise AuthRuleViolation("member event needs a state_key and a membership", "membership")


def check_auth_events(event: PDU, auth_events: Iterable[PDU]) -> None:
    """The rules about the event's own ``auth_events`` (rule 2, v12 rule 3).

    Whether an auth event was itself rejected is for the caller to know.

    Args:
        event: the event whose auth events are checked.
        auth_events: the events its ``auth_events`` field refers to.

    Raises:
        AuthRuleViolation: duplicates, unexpected entries, entries from
            another room, or (before v12) no create event.
    """
    room_version = event.room_version
    allowed = auth_types_for_event(
        room_version, event.type, event.state_key, event.sender, event.content
    )
    seen: set[StateKey] = set()
    for auth_event in auth_events:
        if auth_event.state_key is None:
            raise AuthRuleViolation(f"auth event {auth_event.event_id} is not state", "auth_events")
        key = auth_event.state_tuple
        if key in seen:
            raise AuthRuleViolation(f"duplicate auth event for {key}", "auth_events")
        seen.add(key)
        if key not in allowed:
            raise AuthRuleViolation(f"unexpected auth event for {key}", "auth_events")
        if auth_event.room_id != event.room_id:
            raise AuthRuleViolation(
                f"auth event {auth_event.event_id} is in another room", "auth_events"
            )
    needs_create = event.type != "m.room.create" and not room_version.room_id_from_create_event
    if needs_create and CREATE_KEY not in seen:
        raise AuthRuleViolation("no m.room.create among the auth events", "auth_events")


def check_auth_rules(
    event: PDU,
    auth_state: Mapping[StateKey, PDU],
    *,
    verify_third_party_signature: ThirdPartySignatureVerifier | None = None,
) -> None:
    """Checks ``event`` against the authorization rules of its room version.

    Args:
        event: the event to authorise.
        auth_state: the state it is checked against: its auth events on
            receipt, or the room's current state for a new local event. Must
            hold the create event under ``("m.room.create", "")`` (in v12
            too, where it is not an auth event).
        verify_third_party_signature: checks the ``signed`` block of a third
            party invite; the built-in ed25519 check when None.

    Raises:
        AuthRuleViolation: the event is not allowed; ``rule`` names the rule.
    """
    room_version = event.room_version
    if event.type == "m.room.create":
        _check_create(event)
        return

    create = _create_of_room(event, auth_state)

    sender_server = server_name_of(event.sender)
    if create.content.get("m.federate") is False and sender_server != server_name_of(create.sender):
        raise AuthRuleViolation("the room does not federate", "federate")

    if event.type == "m.room.aliases" and room_version.special_case_aliases_auth:
        # v1-v5: a server may publish its own aliases without being a member.
        if event.state_key is None:
            raise AuthRuleViolation("m.room.aliases needs a state_key", "aliases")
        if event.state_key != sender_server:
            raise AuthRuleViolation("aliases state_key is not the sender's server", "aliases")
        return

    power_levels = PowerLevels(room_version, create, auth_state.get(POWER_LEVELS_KEY))

    if event.type == "m.room.member":
        check_member_event(event, auth_state, power_levels, verify_third_party_signature)
        return

    if membership_in(auth_state, event.sender) != "join":
        raise AuthRuleViolation(f"{event.sender} is not joined to the room", "sender_joined")

    sender_level = power_levels.user_level(event.sender)
    if event.type == "m.room.third_party_invite":
        if sender_level >= power_levels.invite:
            return
        raise AuthRuleViolation(f"{event.sender} lacks the invite level", "third_party_invite")

    required = power_levels.event_level(event.type, event.is_state())
    if required > sender_level:
        raise AuthRuleViolation(
            f"{event.type} needs level {required}, {event.sender} has {sender_level}",
            "event_level",
        )

    if (
        event.state_key is not None
        and event.state_key.startswith("@")
        and event.state_key != event.sender
    ):
        raise AuthRuleViolation("state_key of another user", "user_state_key")

    if event.type == "m.room.power_levels":
        check_power_levels_event(event, power_levels)
        return

    if event.type == "m.room.redaction" and _has_redaction_auth_rule(room_version):
        _check_v1_redaction(event, power_levels, sender_level)


def check_redaction_allowed(
    redaction: PDU, redacted: PDU, auth_state: Mapping[StateKey, PDU]
) -> None:
    """Whether a redaction may be applied to ``redacted`` (v3+ send time).

    From v3 the auth rules let any member send a redaction; the redaction
    only takes effect when its sender has the redact level, or is on the same
    server as the redacted event's sender. In v1/v2 the auth rules already did
    this check with event ID domains, and this function does the same.

    Args:
        redaction: the ``m.room.redaction`` event.
        redacted: the event it redacts.
        auth_state: the room state at the redaction (power levels, create).

    Raises:
        AuthRuleViolation: the redaction must not be applied.
    """
    if redacted.room_id != redaction.room_id:
        raise AuthRuleViolation("cannot redact an event of another room", "redaction")
    room_version = redaction.room_version
    power_levels = PowerLevels.from_state(room_version, auth_state)
    if power_levels.user_level(redaction.sender) >= power_levels.redact:
        return
    if _has_redaction_auth_rule(room_version):
        same_origin = server_name_of(redacted.event_id) == server_name_of(redaction.event_id)
    else:
        same_origin = server_name_of(redacted.sender) == server_name_of(redaction.sender)
    if not same_origin:
        raise AuthRuleViolation(
            f"{redaction.sender} cannot redact events from another server", "redaction"
        )


def _check_create(event: PDU) -> None:
    room_version = event.room_version
    rule = "create"
    if event.prev_event_ids or event.data.get("prev_events"):
        raise AuthRuleViolation("m.room.create must have no prev_events", rule)
    if room_version.room_id_from_create_event:
        if "room_id" in event.data:
            raise AuthRuleViolation("m.room.create must have no room_id in this version", rule)
    elif server_name_of(event.room_id) != server_name_of(event.sender) or not server_name_of(
        event.sender
    ):
        raise AuthRuleViolation("room_id and sender are on different servers", rule)
    if "room_version" in event.content:
        version = event.content["room_version"]
        if not isinstance(version, str) or version not in KNOWN_ROOM_VERSIONS:
            raise AuthRuleViolation(f"unknown room version {version!r}", rule)
    if not room_version.implicit_room_creator and "creator" not in event.content:
        raise AuthRuleViolation("m.room.create has no creator", rule)
    if room_version.privileged_creators and "additional_creators" in event.content:
        extra = event.content["additional_creators"]
        if not isinstance(extra, list) or not all(is_user_id(u) for u in extra):
            raise AuthRuleViolation("additional_creators must be a list of user IDs", rule)


def _create_of_room(event: PDU, auth_state: Mapping[StateKey, PDU]) -> PDU:
    create = auth_state.get(CREATE_KEY)
    if create is None:
        raise AuthRuleViolation("no m.room.create event in the auth state", "auth_events")
    if event.room_version.room_id_from_create_event:
        # v12: the room ID is the create event's ID with the `!` sigil.
        if not event.room_id.startswith("!") or create.event_id != "$" + event.room_id[1:]:
            raise AuthRuleViolation("room_id does not name the create event", "room_id")
    elif create.room_id != event.room_id:
        raise AuthRuleViolation("the create event is of another room", "room_id")
    return create


def _has_redaction_auth_rule(room_version: RoomVersion) -> bool:
    # The v1/v2 rule compares the domains of event IDs, which only the v1
    # event format has; it was dropped together with that format in v3.
    return room_version.event_format is EventFormat.V1


def _check_v1_redaction(event: PDU, power_levels: PowerLevels, sender_level: float) -> None:
    if sender_level >= power_levels.redact:
        return
    if event.redacts is not None and server_name_of(event.redacts) == server_name_of(
        event.event_id
    ):
        return
    raise AuthRuleViolation(f"{event.sender} cannot redact this event", "redaction")
