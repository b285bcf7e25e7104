"""PDU format checks and pdu_from_wire."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.core.errors import InvalidEvent
from homeserver.core.room_versions import KNOWN_ROOM_VERSIONS, V1, V3, V5, V6, V10, V12, RoomVersion
from homeserver.core.signing import (
    compute_event_id,
    hash_and_sign_event,
    room_id_from_create_event,
    signing_key_from_seed,
)
from homeserver.core.validation import (
    MAX_AUTH_EVENTS,
    MAX_PDU_SIZE,
    MAX_PREV_EVENTS,
    check_pdu_format,
    pdu_from_wire,
)

_KEY = signing_key_from_seed(b"\x07" * 32, "1")
_HASH_ID = "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"


def _ref(rv: RoomVersion, event_id: str = _HASH_ID) -> Any:
    if rv.event_format == 1:
        return ["$old:example.org", {"sha256": "abc"}]
    return event_id


def _pdu(rv: RoomVersion, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "room_id": "!r:example.org",
        "sender": "@u:example.org",
        "type": "m.room.message",
        "content": {"body": "hi"},
        "depth": 4,
        "origin_server_ts": 1_700_000_000_000,
        "prev_events": [_ref(rv)],
        "auth_events": [_ref(rv)],
    }
    if rv.event_format == 1:
        event["event_id"] = "$e1:example.org"
    event.update(overrides)
    return hash_and_sign_event(event, "example.org", _KEY, rv)


_ALL = list(KNOWN_ROOM_VERSIONS.values())


@pytest.mark.parametrize("rv", _ALL, ids=lambda rv: rv.identifier)
def test_check_pdu_format_accepts_well_formed_event(rv: RoomVersion) -> None:
    check_pdu_format(_pdu(rv), rv)


@pytest.mark.parametrize(
    "missing",
    [
        "sender",
        "type",
        "content",
        "origin_server_ts",
        "depth",
        "hashes",
        "signatures",
        "room_id",
        "prev_events",
        "auth_events",
    ],
)
def test_check_pdu_format_rejects_missing_field(missing: str) -> None:
    event = _pdu(V10)
    del event[missing]
    with pytest.raises(InvalidEvent):
        check_pdu_format(event, V10)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("content", []),
        ("origin_server_ts", "1"),
        ("origin_server_ts", True),
        ("depth", -1),
        ("depth", 2**63),
        ("depth", 1.0),
        ("hashes", {"sha256": 5}),
        ("signatures", {"example.org": "sig"}),
        ("signatures", {"example.org": {"ed25519:1": 5}}),
        ("state_key", 5),
        ("state_key", None),
        ("type", "t" * 256),
        ("sender", "not-a-user"),
        ("room_id", "r:example.org"),
        ("unsigned", []),
        ("redacts", 5),
        ("prev_events", "$x"),
        ("prev_events", [["$old:example.org", {}]]),
        ("auth_events", ["not-an-id"]),
    ],
)
def test_check_pdu_format_rejects_bad_field(key: str, value: Any) -> None:
    event = {**_pdu(V5), key: value}
    with pytest.raises(InvalidEvent):
        check_pdu_format(event, V5)


def test_check_pdu_format_accepts_255_byte_state_key_only() -> None:
    check_pdu_format(_pdu(V10, state_key="s" * 255), V10)
    with pytest.raises(InvalidEvent, match="state_key"):
        check_pdu_format(_pdu(V10, state_key="é" * 128), V10)


def test_check_pdu_format_limits_prev_and_auth_events() -> None:
    check_pdu_format(_pdu(V10, prev_events=[_HASH_ID] * MAX_PREV_EVENTS), V10)
    with pytest.raises(InvalidEvent, match="prev_events"):
        check_pdu_format(_pdu(V10, prev_events=[_HASH_ID] * (MAX_PREV_EVENTS + 1)), V10)
    check_pdu_format(_pdu(V10, auth_events=[_HASH_ID] * MAX_AUTH_EVENTS), V10)
    with pytest.raises(InvalidEvent, match="auth_events"):
        check_pdu_format(_pdu(V10, auth_events=[_HASH_ID] * (MAX_AUTH_EVENTS + 1)), V10)


def test_check_pdu_format_requires_pairs_in_v1_and_ids_later() -> None:
    with pytest.raises(InvalidEvent):
        check_pdu_format(_pdu(V1, prev_events=[_HASH_ID]), V1)
    with pytest.raises(InvalidEvent):
        check_pdu_format(_pdu(V3, prev_events=[["$old:example.org", {}]]), V3)


def test_check_pdu_format_requires_event_id_in_v1() -> None:
    event = _pdu(V1)
    del event["event_id"]
    with pytest.raises(InvalidEvent):
        check_pdu_format(event, V1)
    with pytest.raises(InvalidEvent):
        check_pdu_format({**_pdu(V1), "event_id": "$" + "e" * 250 + ":example.org"}, V1)


def test_check_pdu_format_rejects_over_64k() -> None:
    near = _pdu(V10, content={"body": "x" * (MAX_PDU_SIZE - 1000)})
    check_pdu_format(near, V10)
    with pytest.raises(InvalidEvent, match="65536"):
        check_pdu_format(_pdu(V10, content={"body": "x" * MAX_PDU_SIZE}), V10)


def test_check_pdu_format_enforces_canonical_numbers_from_v6() -> None:
    event = _pdu(V5, content={"n": 2**60, "f": 1.5})
    check_pdu_format(event, V5)
    with pytest.raises(InvalidEvent, match="canonical"):
        check_pdu_format(event, V6)


def test_check_pdu_format_rejects_nan_in_every_version() -> None:
    with pytest.raises(InvalidEvent):
        check_pdu_format({**_pdu(V5), "content": {"f": float("nan")}}, V5)


def test_check_pdu_format_allows_v12_create_without_room_id() -> None:
    create = _pdu(V12, type="m.room.create", state_key="", prev_events=[], auth_events=[])
    del create["room_id"]
    create = hash_and_sign_event(create, "example.org", _KEY, V12)
    check_pdu_format(create, V12)
    message = _pdu(V12)
    del message["room_id"]
    with pytest.raises(InvalidEvent, match="room_id"):
        check_pdu_format(message, V12)


def test_pdu_from_wire_computes_event_id_per_version() -> None:
    v1 = pdu_from_wire(_pdu(V1), V1)
    assert v1.event_id == "$e1:example.org"
    assert v1.prev_event_ids == ("$old:example.org",)
    event = _pdu(V10)
    pdu = pdu_from_wire(event, V10)
    assert pdu.event_id == compute_event_id(event, V10)
    assert pdu.room_id == "!r:example.org"
    assert pdu.data is event


def test_pdu_from_wire_derives_v12_create_room_id() -> None:
    create = _pdu(V12, type="m.room.create", state_key="", prev_events=[], auth_events=[])
    del create["room_id"]
    create = hash_and_sign_event(create, "example.org", _KEY, V12)
    pdu = pdu_from_wire(create, V12)
    assert pdu.room_id == room_id_from_create_event(create, V12)


def test_pdu_from_wire_rejects_malformed() -> None:
    with pytest.raises(InvalidEvent):
        pdu_from_wire({"type": "m.room.message"}, V10)
