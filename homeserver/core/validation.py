"""Format checks on PDUs received from other servers (or read back).

``check_pdu_format`` checks what can be checked on the event alone, before
signatures, hashes and the authorization rules:

1. it is at most 65536 bytes as canonical JSON;
2. numbers obey the canonical JSON rules (strictly from v6);
3. required keys are present with the right types, and ids parse;
4. the spec's size limits hold (255 bytes for ids, type and state key;
   20 ``prev_events``, 10 ``auth_events``);
5. ``prev_events``/``auth_events`` have the shape of the room's event format.

Signatures (``signing.verify_event_signature``), the content hash
(``signing.check_content_hash``) and the authorization rules come after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.core.canonical_json import check_canonical, encode_canonical_json
from homeserver.core.errors import CanonicalJsonError, InvalidEvent, InvalidIdentifier
from homeserver.core.events import PDU
from homeserver.core.ids import parse_event_id, parse_room_id, parse_user_id
from homeserver.core.room_versions import EventFormat, RoomVersion
from homeserver.core.signing import compute_event_id

#: Largest PDU, in bytes of canonical JSON, signatures included.
MAX_PDU_SIZE = 65536
#: Largest sender, room_id, type, state_key and event_id, in UTF-8 bytes.
MAX_FIELD_BYTES = 255
MAX_PREV_EVENTS = 20
MAX_AUTH_EVENTS = 10
#: ``depth`` must be below this; in v6+ canonical JSON limits it to 2**53-1.
MAX_DEPTH = 2**63 - 1


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_short_string(event_dict: Mapping[str, Any], key: str, *, required: bool) -> None:
    value = event_dict.get(key)
    if value is None and key not in event_dict and not required:
        return
    if not isinstance(value, str):
        raise InvalidEvent(f"'{key}' must be a string")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_FIELD_BYTES:
        raise InvalidEvent(f"'{key}' is longer than {MAX_FIELD_BYTES} bytes")


def _check_refs(event_dict: Mapping[str, Any], key: str, limit: int, rv: RoomVersion) -> None:
    refs = event_dict.get(key)
    if not isinstance(refs, list):
        raise InvalidEvent(f"'{key}' must be a list")
    if len(refs) > limit:
        raise InvalidEvent(f"'{key}' has more than {limit} entries")
    for ref in refs:
        if rv.event_format is EventFormat.V1:
            # [event_id, {"sha256": hash}]
            if not (
                isinstance(ref, list)
                and len(ref) == 2
                and isinstance(ref[0], str)
                and isinstance(ref[1], dict)
            ):
                raise InvalidEvent(f"'{key}' entries must be [event_id, hashes] pairs")
            event_id = ref[0]
        else:
            if not isinstance(ref, str):
                raise InvalidEvent(f"'{key}' entries must be event ids")
            event_id = ref
        try:
            parse_event_id(event_id)
        except InvalidIdentifier as e:
            raise InvalidEvent(f"'{key}': {e}") from e


def _needs_room_id(event_dict: Mapping[str, Any], rv: RoomVersion) -> bool:
    # v12: the create event has no room_id (its id is the room id). Whether
    # one that has a room_id is allowed is for the authorization rules.
    return not (rv.room_id_from_create_event and event_dict.get("type") == "m.room.create")


def check_pdu_format(event_dict: Mapping[str, Any], room_version: RoomVersion) -> None:
    """Checks that a PDU is well-formed for ``room_version``.

    Args:
        event_dict: the event in its federation form.
        room_version: the version of the room it claims to belong to.

    Raises:
        InvalidEvent: the first problem found (``CanonicalJsonError`` for
            number-rule violations, which is also a ``ValueError``).
    """
    rv = room_version
    if not isinstance(event_dict, Mapping):
        raise InvalidEvent("An event must be a JSON object")
    try:
        check_canonical(event_dict, strict=rv.strict_canonicaljson)
        size = len(encode_canonical_json(event_dict))
    except CanonicalJsonError as e:
        raise InvalidEvent(f"Event is not valid canonical JSON: {e}") from e
    if size > MAX_PDU_SIZE:
        raise InvalidEvent(f"Event is {size} bytes, over the {MAX_PDU_SIZE} byte limit")

    _check_short_string(event_dict, "type", required=True)
    _check_short_string(event_dict, "sender", required=True)
    _check_short_string(event_dict, "state_key", required=False)
    _check_short_string(event_dict, "room_id", required=_needs_room_id(event_dict, rv))
    try:
        parse_user_id(event_dict["sender"], strict=False)
        if "room_id" in event_dict:
            parse_room_id(event_dict["room_id"])
    except InvalidIdentifier as e:
        raise InvalidEvent(str(e)) from e
    if rv.event_format is EventFormat.V1:
        _check_short_string(event_dict, "event_id", required=True)
        try:
            parse_event_id(event_dict["event_id"])
        except InvalidIdentifier as e:
            raise InvalidEvent(str(e)) from e

    if not isinstance(event_dict.get("content"), dict):
        raise InvalidEvent("'content' must be an object")
    if not _is_int(event_dict.get("origin_server_ts")):
        raise InvalidEvent("'origin_server_ts' must be an integer")
    depth = event_dict.get("depth")
    if not isinstance(depth, int) or isinstance(depth, bool) or not 0 <= depth <= MAX_DEPTH:
        raise InvalidEvent(f"'depth' must be an integer in [0, {MAX_DEPTH}]")

    hashes = event_dict.get("hashes")
    if not isinstance(hashes, dict) or not isinstance(hashes.get("sha256"), str):
        raise InvalidEvent("'hashes' must be an object with a string 'sha256'")
    signatures = event_dict.get("signatures")
    if not isinstance(signatures, dict) or not all(
        isinstance(sigs, dict) and all(isinstance(s, str) for s in sigs.values())
        for sigs in signatures.values()
    ):
        raise InvalidEvent("'signatures' must map server names to {key id: signature}")
    if "unsigned" in event_dict and not isinstance(event_dict["unsigned"], dict):
        raise InvalidEvent("'unsigned' must be an object")
    if "redacts" in event_dict and not isinstance(event_dict["redacts"], str):
        raise InvalidEvent("'redacts' must be a string")

    _check_refs(event_dict, "prev_events", MAX_PREV_EVENTS, rv)
    _check_refs(event_dict, "auth_events", MAX_AUTH_EVENTS, rv)


def pdu_from_wire(event_dict: dict[str, Any], room_version: RoomVersion) -> PDU:
    """Validates a received event and wraps it as a ``PDU`` with its id.

    The PDU takes ownership of ``event_dict``: do not change it afterwards.
    Signatures and the content hash are *not* checked here.

    Args:
        event_dict: the event in its federation form.
        room_version: the version of the room it belongs to.

    Returns:
        The PDU, its ``event_id`` computed for the room version.

    Raises:
        InvalidEvent: the event is malformed.
    """
    check_pdu_format(event_dict, room_version)
    return PDU(compute_event_id(event_dict, room_version), room_version, event_dict)
