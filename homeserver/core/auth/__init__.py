"""The authorization rules of every room version (pure: no I/O, no clock).

Modules:

* ``rules``: the entry points, following the numbered rules of the spec:
  create event, the event's auth events, ``m.federate``, ``m.room.aliases``
  (v1-v5), membership, sender joined, third party invites, required power
  level, user-owned state keys, power levels, and the v1/v2 redaction rule.
* ``membership``: the ``m.room.member`` rule, one function per membership.
* ``power``: reading power levels, including string/float levels before v10,
  the implicit creator level and the infinite level of v12 creators.
* ``power_rules``: the ``m.room.power_levels`` rule.
* ``third_party``: verifying the signed block of third party invites.

Callers check an event in this order: ``check_state_independent`` (after
the signatures and hashes are verified), then ``check_auth_events`` against
its own auth events, then ``check_auth_rules`` against the state before it
(auth events, then current state, as the PDU receipt checks require).
"""

from homeserver.core.auth.membership import join_rule_in, membership_in
from homeserver.core.auth.power import (
    CREATOR_LEVEL,
    Level,
    PowerLevels,
    parse_level,
    room_creators,
)
from homeserver.core.auth.power_rules import check_power_levels_event
from homeserver.core.auth.rules import (
    auth_types_for_event,
    check_auth_events,
    check_auth_rules,
    check_redaction_allowed,
    check_state_independent,
    required_signature_servers,
)
from homeserver.core.auth.third_party import (
    ThirdPartySignatureVerifier,
    verify_third_party_signature,
)

__all__ = [
    "CREATOR_LEVEL",
    "Level",
    "PowerLevels",
    "ThirdPartySignatureVerifier",
    "auth_types_for_event",
    "check_auth_events",
    "check_auth_rules",
    "check_power_levels_event",
    "check_redaction_allowed",
    "check_state_independent",
    "join_rule_in",
    "membership_in",
    "parse_level",
    "required_signature_servers",
    "room_creators",
    "verify_third_party_signature",
]
