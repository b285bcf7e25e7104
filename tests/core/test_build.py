"""build_pdu: the wire format of each room version, hashed and signed."""

from __future__ import annotations

from typing import Any

import pytest
from unpaddedbase64 import encode_base64

from homeserver.core.build import build_pdu
from homeserver.core.errors import InvalidEvent
from homeserver.core.events import PDU
from homeserver.core.room_versions import (
    KNOWN_ROOM_VERSIONS,
    V1,
    V2,
    V3,
    V6,
    V10,
    V11,
    V12,
    RoomVersion,
)
from homeserver.core.signing import (
    check_content_hash,
    compute_event_id,
    compute_reference_hash,
    get_verify_key,
    room_id_from_create_event,
    signing_key_from_seed,
    verify_event_signature,
)
from homeserver.core.validation import pdu_from_wire

_KEY = signing_key_from_seed(b"\x2a" * 32, "a_1")
_SERVER = "example.org"


def _build(rv: RoomVersion, **overrides: Any) -> PDU:
    args: dict[str, Any] = {
        "room_version": rv,
        "room_id": "!r:example.org",
        "sender": "@u:example.org",
        "type": "m.room.message",
        "content": {"body": "hi", "msgtype": "m.text"},
        "prev_events": [],
        "auth_events": [],
        "depth": 3,
        "origin_server_ts": 1_700_000_000_000,
        "server_name": _SERVER,
        "signing_key": _KEY,
        "event_id_localpart": "abc",
    }
    args.update(overrides)
    return build_pdu(**args)


@pytest.mark.parametrize("rv", list(KNOWN_ROOM_VERSIONS.values()), ids=lambda rv: rv.identifier)
def test_build_pdu_is_hashed_signed_and_valid_in_every_version(rv: RoomVersion) -> None:
    pdu = _build(rv)
    assert check_content_hash(pdu.data)
    verify_event_signature(pdu.data, _SERVER, get_verify_key(_KEY), rv)
    again = pdu_from_wire(dict(pdu.data), rv)
    assert again.event_id == pdu.event_id
    assert pdu.room_version is rv


def test_build_pdu_v1_uses_event_id_field_and_reference_pairs() -> None:
    parent = _build(V1, event_id_localpart="parent")
    child = _build(
        V1,
        prev_events=[parent, "$other:example.org"],
        auth_events=["$auth:example.org"],
        reference_hashes={"$auth:example.org": "hashvalue"},
    )
    assert child.event_id == "$abc:example.org"
    assert child.data["event_id"] == child.event_id
    assert child.data["prev_events"] == [
        ["$parent:example.org", {"sha256": encode_base64(compute_reference_hash(parent.data, V1))}],
        ["$other:example.org", {}],
    ]
    assert child.data["auth_events"] == [["$auth:example.org", {"sha256": "hashvalue"}]]
    assert child.prev_event_ids == ("$parent:example.org", "$other:example.org")


def test_build_pdu_v1_draws_localpart_from_injected_randomness() -> None:
    pdu = _build(V2, event_id_localpart=None, random_bytes=lambda n: b"\xff" * n)
    assert pdu.event_id == "$________________:example.org"
    with pytest.raises(ValueError, match="event_id_localpart"):
        _build(V2, event_id_localpart=None)


def test_build_pdu_v3_plus_references_by_id_and_has_no_event_id_field() -> None:
    parent = _build(V3)
    child = _build(V3, prev_events=[parent], auth_events=[parent.event_id])
    assert "event_id" not in child.data
    assert child.data["prev_events"] == [parent.event_id]
    assert child.event_id == compute_event_id(child.data, V3)
    assert child.event_id == "$" + encode_base64(compute_reference_hash(child.data, V3))


def test_build_pdu_event_id_is_deterministic() -> None:
    assert _build(V10).event_id == _build(V10).event_id
    assert _build(V10).event_id != _build(V10, depth=4).event_id


def test_build_pdu_v12_create_has_no_room_id() -> None:
    create = _build(V12, room_id=None, type="m.room.create", state_key="", content={})
    assert "room_id" not in create.data
    assert create.room_id == room_id_from_create_event(create.data, V12)
    with pytest.raises(ValueError, match="no room_id"):
        _build(V12, type="m.room.create", state_key="", content={})
    with pytest.raises(ValueError, match="room_id is required"):
        _build(V12, room_id=None)


def test_build_pdu_places_redacts_by_version() -> None:
    old = _build(V10, type="m.room.redaction", content={"reason": "x"}, redacts="$target")
    assert old.data["redacts"] == "$target"
    assert "redacts" not in old.content
    new = _build(V11, type="m.room.redaction", content={"reason": "x"}, redacts="$target")
    assert "redacts" not in new.data
    assert new.content == {"reason": "x", "redacts": "$target"}
    assert new.redacts == old.redacts == "$target"


def test_build_pdu_keeps_unsigned_outside_hash_and_signature() -> None:
    plain = _build(V10)
    with_unsigned = _build(V10, unsigned={"invite_room_state": []})
    assert with_unsigned.data["unsigned"] == {"invite_room_state": []}
    assert with_unsigned.event_id == plain.event_id
    assert with_unsigned.data["hashes"] == plain.data["hashes"]


def test_build_pdu_adds_extra_keys_but_not_over_set_ones() -> None:
    pdu = _build(V10, extra={"origin": "example.org"})
    assert pdu.data["origin"] == "example.org"
    with pytest.raises(ValueError, match="depth"):
        _build(V10, extra={"depth": 9})


def test_build_pdu_does_not_change_content_argument() -> None:
    content = {"reason": "x"}
    _build(V11, type="m.room.redaction", content=content, redacts="$t")
    assert content == {"reason": "x"}


def test_build_pdu_sets_state_key_only_for_state_events() -> None:
    assert "state_key" not in _build(V10).data
    assert _build(V10, type="m.room.topic", state_key="").state_tuple == ("m.room.topic", "")


def test_build_pdu_refuses_oversized_and_non_canonical_events() -> None:
    with pytest.raises(InvalidEvent):
        _build(V10, content={"body": "x" * 70000})
    with pytest.raises(InvalidEvent):
        _build(V6, content={"n": 1.5})
    assert _build(V3, content={"n": 1.5}).content == {"n": 1.5}
