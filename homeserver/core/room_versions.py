"""Room versions as records of feature flags.

Every branch in the core that depends on the room version reads one of these
flags, never the version string. Adding a room version means adding one record
here (plus tests). The flags follow the room version sections of the spec
(``rooms/v1`` … ``rooms/v12``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class EventFormat(IntEnum):
    """How an event is identified and how it refers to other events."""

    #: v1, v2: ``event_id`` is a field of the event (``$random:server``);
    #: ``prev_events``/``auth_events`` are ``[event_id, {hashes}]`` pairs.
    V1 = 1
    #: v3: event id is ``$`` + standard unpadded base64 of the reference hash.
    V2 = 2
    #: v4 to v11: as V2 but URL-safe base64.
    V3 = 3
    #: v12: as V3, and the create event has no ``room_id``: the room id is
    #: ``!`` + the create event's reference hash.
    V4 = 4


class StateResolution(IntEnum):
    V1 = 1
    V2 = 2
    #: v12: v2.1 starts the iterative auth checks from an empty state and
    #: adds the full conflicted subgraph to the conflicted set.
    V2_1 = 3


@dataclass(frozen=True, slots=True)
class RoomVersion:
    identifier: str
    stable: bool
    event_format: EventFormat
    state_res: StateResolution
    #: v5+: reject events signed with an expired key.
    enforce_key_validity: bool
    #: v1-v5: m.room.aliases has a special auth rule (sender's server == state_key).
    special_case_aliases_auth: bool
    #: v6+: integers outside [-2**53+1, 2**53-1] and floats are invalid.
    strict_canonicaljson: bool
    #: v6+: ``notifications`` in power levels is checked when changed.
    limit_notifications_power_levels: bool
    #: v7+: the ``knock`` join rule and ``knock`` membership.
    knock_join_rule: bool
    #: v8+: the ``restricted`` join rule.
    restricted_join_rule: bool
    #: v9+: ``join_authorised_via_users_server`` survives redaction.
    restricted_join_rule_fix: bool
    #: v10+: the ``knock_restricted`` join rule.
    knock_restricted_join_rule: bool
    #: v10+: power level values must be integers (not strings).
    enforce_int_power_levels: bool
    #: v11+: the create event has no ``creator``; the sender is the creator.
    implicit_room_creator: bool
    #: v11+: the redaction algorithm of v11 (keeps ``redacts`` in content, etc.).
    updated_redaction_rules: bool
    #: v12+: creators (sender of create + ``additional_creators``) have
    #: infinite power and are not listed in ``users`` of power levels.
    privileged_creators: bool

    @property
    def room_id_from_create_event(self) -> bool:
        return self.event_format is EventFormat.V4


def _v(
    identifier: str,
    *,
    event_format: EventFormat,
    state_res: StateResolution = StateResolution.V2,
    n: int,
) -> RoomVersion:
    """Builds the record for the stable version ``n`` from its feature set."""
    return RoomVersion(
        identifier=identifier,
        stable=True,
        event_format=event_format,
        state_res=state_res,
        enforce_key_validity=n >= 5,
        special_case_aliases_auth=n <= 5,
        strict_canonicaljson=n >= 6,
        limit_notifications_power_levels=n >= 6,
        knock_join_rule=n >= 7,
        restricted_join_rule=n >= 8,
        restricted_join_rule_fix=n >= 9,
        knock_restricted_join_rule=n >= 10,
        enforce_int_power_levels=n >= 10,
        implicit_room_creator=n >= 11,
        updated_redaction_rules=n >= 11,
        privileged_creators=n >= 12,
    )


V1 = _v("1", event_format=EventFormat.V1, state_res=StateResolution.V1, n=1)
V2 = _v("2", event_format=EventFormat.V1, n=2)
V3 = _v("3", event_format=EventFormat.V2, n=3)
V4 = _v("4", event_format=EventFormat.V3, n=4)
V5 = _v("5", event_format=EventFormat.V3, n=5)
V6 = _v("6", event_format=EventFormat.V3, n=6)
V7 = _v("7", event_format=EventFormat.V3, n=7)
V8 = _v("8", event_format=EventFormat.V3, n=8)
V9 = _v("9", event_format=EventFormat.V3, n=9)
V10 = _v("10", event_format=EventFormat.V3, n=10)
V11 = _v("11", event_format=EventFormat.V3, n=11)
V12 = _v("12", event_format=EventFormat.V4, state_res=StateResolution.V2_1, n=12)

#: Every room version this server can take part in, by identifier.
#: Version 1 is listed because it is known; whether it is *supported*
#: (state resolution v1) is decided by ``SUPPORTED_ROOM_VERSIONS``.
KNOWN_ROOM_VERSIONS: dict[str, RoomVersion] = {
    rv.identifier: rv for rv in (V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12)
}

#: The versions this server creates and joins rooms of.
SUPPORTED_ROOM_VERSIONS: dict[str, RoomVersion] = dict(KNOWN_ROOM_VERSIONS)

#: Default for new rooms: v10 is what Synapse and most deployments use as the
#: default today and every current client handles it; v11 and v12 are offered
#: and can be chosen per room or made the default in config.
DEFAULT_ROOM_VERSION = V10
