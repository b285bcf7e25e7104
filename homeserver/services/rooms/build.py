"""Building a new local event on top of a state map (no I/O).

``build_local_event`` chooses the auth events, builds, hashes and signs the
PDU with ``core.build.build_pdu``, and checks it against the size limit and
the authorization rules of its room version. The callers (send, membership,
redact, createRoom) load the state it needs; createRoom calls it for every
event of the new room against an in-memory state.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from signedjson.types import SigningKey

from homeserver.core.auth import auth_types_for_event, check_auth_rules, check_state_independent
from homeserver.core.build import build_pdu
from homeserver.core.canonical_json import encode_canonical_json
from homeserver.core.errors import (
    AuthRuleViolation,
    BadJson,
    CanonicalJsonError,
    Forbidden,
    InvalidEvent,
    TooLarge,
)
from homeserver.core.events import PDU, StateKey
from homeserver.core.room_versions import EventFormat, RoomVersion
from homeserver.core.validation import MAX_FIELD_BYTES, MAX_PDU_SIZE

CREATE_KEY: StateKey = ("m.room.create", "")


def auth_keys(
    room_version: RoomVersion,
    event_type: str,
    state_key: str | None,
    sender: str,
    content: Mapping[str, Any],
) -> set[StateKey]:
    """The state entries to load for building and checking an event."""
    return auth_types_for_event(room_version, event_type, state_key, sender, content) | {CREATE_KEY}


def forbidden(violation: AuthRuleViolation) -> Forbidden:
    """The client-facing error for an auth rule violation, naming the rule."""
    rule = f" (auth rule: {violation.rule})" if violation.rule else ""
    return Forbidden(f"{violation}{rule}")


def check_field_sizes(event_type: str, state_key: str | None) -> None:
    """The spec's 255-byte field limits; like the 64 KiB event limit (and as
    Synapse answers) an overlong field is 413 M_TOO_LARGE."""
    if len(event_type.encode("utf-8", "surrogatepass")) > MAX_FIELD_BYTES:
        raise TooLarge(f"Event type is longer than {MAX_FIELD_BYTES} bytes")
    if state_key is not None and len(state_key.encode("utf-8", "surrogatepass")) > MAX_FIELD_BYTES:
        raise TooLarge(f"state_key is longer than {MAX_FIELD_BYTES} bytes")


def build_local_event(
    *,
    room_version: RoomVersion,
    room_id: str | None,
    sender: str,
    event_type: str,
    content: Mapping[str, Any],
    state_key: str | None = None,
    redacts: str | None = None,
    prev_events: Sequence[str],
    depth: int,
    auth_state: Mapping[StateKey, PDU],
    now_ms: int,
    server_name: str,
    signing_key: SigningKey,
    unsigned: Mapping[str, Any] | None = None,
) -> PDU:
    """Builds, signs and authorises a new event of ours.

    Args:
        auth_state: at least the entries of :func:`auth_keys` that exist in
            the room's current state (the create event included).
        (the others as for ``core.build.build_pdu``)

    Raises:
        TooLarge: the PDU is over 65536 bytes (M_TOO_LARGE).
        BadJson: the content breaks the canonical JSON rules of the room
            version, or a field is too long.
        Forbidden: the authorization rules reject it; the message names the rule.
    """
    check_field_sizes(event_type, state_key)
    selected = auth_types_for_event(room_version, event_type, state_key, sender, content)
    auth_events = [auth_state[key] for key in sorted(selected) if key in auth_state]
    try:
        pdu = build_pdu(
            room_version=room_version,
            room_id=room_id,
            sender=sender,
            type=event_type,
            content=content,
            prev_events=list(prev_events),
            auth_events=[e.event_id for e in auth_events],
            depth=depth,
            origin_server_ts=now_ms,
            server_name=server_name,
            signing_key=signing_key,
            state_key=state_key,
            redacts=redacts,
            unsigned=unsigned,
            random_bytes=secrets.token_bytes
            if room_version.event_format is EventFormat.V1
            else None,
        )
    except CanonicalJsonError as e:
        raise BadJson(f"Invalid JSON for this room version: {e}") from e
    except InvalidEvent as e:
        raise _size_or_bad_json(e, content) from e
    try:
        check_state_independent(pdu)
        check_auth_rules(pdu, auth_state)
    except AuthRuleViolation as e:
        raise forbidden(e) from e
    return pdu


def _size_or_bad_json(error: InvalidEvent, content: Mapping[str, Any]) -> TooLarge | BadJson:
    try:
        too_large = len(encode_canonical_json(dict(content))) > MAX_PDU_SIZE - 1024
    except CanonicalJsonError:
        too_large = False
    if too_large or "byte limit" in str(error):
        return TooLarge(f"Event too large: {error}")
    return BadJson(f"Invalid event: {error}")
