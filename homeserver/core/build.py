"""Assembling a new PDU: the wire dict, content hash, signature and event id.

The caller decides everything that needs state, time or randomness
(``prev_events``, ``auth_events``, ``depth``, ``origin_server_ts`` and, in
v1/v2 rooms, the event id's localpart); ``build_pdu`` only lays the fields
out in the room version's event format and hashes and signs them.

Format choices:

- v1/v2 (event format V1): ``event_id`` is ``$localpart:server_name``;
  ``prev_events``/``auth_events`` are ``[event_id, {"sha256": hash}]`` pairs
  whose hash is the referenced event's reference hash when known, else ``{}``
  (nobody checks these hashes).
- v3+: references are plain event ids; the event id is computed from the
  reference hash and is not part of the wire dict.
- v12: the ``m.room.create`` event has no ``room_id``.
- Redactions: before v11 ``redacts`` is a top-level key. From v11 it lives in
  ``content`` only, as the v11 spec moves it; adding a top-level copy for
  older clients is a job for the client-API serialiser.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from unpaddedbase64 import encode_base64

from homeserver.core.events import PDU
from homeserver.core.room_versions import EventFormat, RoomVersion
from homeserver.core.signing import SigningKey, compute_event_id, hash_and_sign_event
from homeserver.core.signing import compute_reference_hash as _reference_hash
from homeserver.core.validation import check_pdu_format

JsonDict = dict[str, Any]

#: Length in bytes of the random part of a v1/v2 event id.
_V1_EVENT_ID_RANDOM_BYTES = 12


def _reference(
    ref: str | PDU,
    room_version: RoomVersion,
    reference_hashes: Mapping[str, str] | None,
) -> Any:
    event_id = ref.event_id if isinstance(ref, PDU) else ref
    if room_version.event_format is not EventFormat.V1:
        return event_id
    hashes: JsonDict = {}
    if isinstance(ref, PDU):
        hashes["sha256"] = encode_base64(_reference_hash(ref.data, ref.room_version))
    elif reference_hashes is not None and event_id in reference_hashes:
        hashes["sha256"] = reference_hashes[event_id]
    return [event_id, hashes]


def _v1_event_id(
    server_name: str,
    event_id_localpart: str | None,
    random_bytes: Callable[[int], bytes] | None,
) -> str:
    if event_id_localpart is None:
        if random_bytes is None:
            raise ValueError("v1/v2 events need event_id_localpart or random_bytes")
        event_id_localpart = encode_base64(random_bytes(_V1_EVENT_ID_RANDOM_BYTES), urlsafe=True)
    return f"${event_id_localpart}:{server_name}"


def build_pdu(
    *,
    room_version: RoomVersion,
    room_id: str | None,
    sender: str,
    type: str,
    content: Mapping[str, Any],
    prev_events: Sequence[str | PDU],
    auth_events: Sequence[str | PDU],
    depth: int,
    origin_server_ts: int,
    server_name: str,
    signing_key: SigningKey,
    state_key: str | None = None,
    redacts: str | None = None,
    unsigned: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    event_id_localpart: str | None = None,
    random_bytes: Callable[[int], bytes] | None = None,
    reference_hashes: Mapping[str, str] | None = None,
) -> PDU:
    """Builds, hashes and signs a new event.

    Args:
        room_version: the room's version; decides the event format.
        room_id: the room; None only for a v12+ ``m.room.create`` event.
        sender: the sending user's id.
        type: the event type.
        content: the event content (copied, not changed).
        prev_events: the forward extremities this event follows, as ids or
            PDUs.
        auth_events: the events that authorise this one, as ids or PDUs.
        depth: the event's depth (max depth of ``prev_events`` + 1).
        origin_server_ts: the sending time in ms, from the injected clock.
        server_name: our server name; the signature is made under it.
        signing_key: our signing key.
        state_key: set for state events.
        redacts: for ``m.room.redaction``, the id of the redacted event.
        unsigned: data outside the hash and signatures (e.g.
            ``invite_room_state``).
        extra: further top-level keys, added before hashing; they may not
            replace the keys this function sets.
        event_id_localpart: v1/v2 only: the random part of the event id.
        random_bytes: v1/v2 only, when ``event_id_localpart`` is None: a
            source of random bytes (``secrets.token_bytes``) for it.
        reference_hashes: v1/v2 only: reference hashes (unpadded base64) of
            referenced events given by id.

    Returns:
        The signed PDU with its event id.

    Raises:
        ValueError: the arguments do not fit the room version (missing or
            extra ``room_id``, no way to make a v1 event id, ``extra``
            overriding a set key).
        InvalidEvent: the result breaks a format rule (too large, too many
            prev/auth events, non-canonical numbers in v6+...).
    """
    rv = room_version
    is_domainless_create = rv.room_id_from_create_event and type == "m.room.create"
    if is_domainless_create and room_id is not None:
        raise ValueError("A v12+ m.room.create event has no room_id")
    if not is_domainless_create and room_id is None:
        raise ValueError("room_id is required")

    event_content = dict(content)
    event: JsonDict = {
        "type": type,
        "sender": sender,
        "content": event_content,
        "depth": depth,
        "origin_server_ts": origin_server_ts,
        "prev_events": [_reference(r, rv, reference_hashes) for r in prev_events],
        "auth_events": [_reference(r, rv, reference_hashes) for r in auth_events],
    }
    if room_id is not None:
        event["room_id"] = room_id
    if state_key is not None:
        event["state_key"] = state_key
    if redacts is not None:
        if rv.updated_redaction_rules:
            event_content.setdefault("redacts", redacts)
        else:
            event["redacts"] = redacts
    if rv.event_format is EventFormat.V1:
        event["event_id"] = _v1_event_id(server_name, event_id_localpart, random_bytes)
    if extra:
        clash = event.keys() & extra.keys()
        if clash:
            raise ValueError(f"extra may not override {sorted(clash)}")
        event.update(extra)

    signed = hash_and_sign_event(event, server_name, signing_key, rv)
    if unsigned:
        signed["unsigned"] = dict(unsigned)
    check_pdu_format(signed, rv)
    return PDU(compute_event_id(signed, rv), rv, signed)
