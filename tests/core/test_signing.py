"""Content/reference hashes, event ids, signatures and key files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from unpaddedbase64 import decode_base64, encode_base64

from homeserver.core.errors import InvalidEvent, SignatureError
from homeserver.core.room_versions import KNOWN_ROOM_VERSIONS, V1, V3, V4, V10, V11, V12
from homeserver.core.signing import (
    add_content_hash,
    check_content_hash,
    compute_content_hash,
    compute_event_id,
    compute_reference_hash,
    decode_verify_key,
    encode_verify_key,
    generate_signing_key,
    get_verify_key,
    hash_and_sign_event,
    key_id,
    read_signing_keys,
    room_id_from_create_event,
    sign_event,
    sign_json,
    signing_key_from_seed,
    verify_event_signature,
    verify_json,
    write_signing_key,
)

_FIXTURES = Path(__file__).parent / "fixtures" / "spec"
_JSON_SIGNING = json.loads((_FIXTURES / "json_signing.json").read_text("utf-8"))
_EVENT_SIGNING = json.loads((_FIXTURES / "event_signing.json").read_text("utf-8"))
_SPEC_KEY = signing_key_from_seed(
    decode_base64(_JSON_SIGNING["signing_key_seed"]), _JSON_SIGNING["key_version"]
)
_OTHER_KEY = signing_key_from_seed(bytes(range(32)), "other")


def _message(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "room_id": "!r:example.org",
        "sender": "@u:example.org",
        "type": "m.room.message",
        "content": {"body": "hello", "msgtype": "m.text"},
        "depth": 5,
        "origin_server_ts": 1_700_000_000_000,
        "prev_events": [],
        "auth_events": [],
    }
    event.update(overrides)
    return event


@pytest.mark.parametrize("case", _JSON_SIGNING["cases"], ids=["empty", "one-two"])
def test_sign_json_matches_spec_vectors(case: dict[str, Any]) -> None:
    signed = sign_json(case["input"], _JSON_SIGNING["server_name"], _SPEC_KEY)
    assert signed == case["signed"]
    verify_json(signed, "domain", get_verify_key(_SPEC_KEY))


@pytest.mark.parametrize("case", _EVENT_SIGNING["cases"], ids=["minimal", "redactable"])
def test_hash_and_sign_event_matches_spec_vectors(case: dict[str, Any]) -> None:
    rv = KNOWN_ROOM_VERSIONS[_EVENT_SIGNING["room_version"]]
    signed = hash_and_sign_event(case["input"], _EVENT_SIGNING["server_name"], _SPEC_KEY, rv)
    assert signed == case["signed"]
    assert check_content_hash(signed)
    verify_event_signature(signed, "domain", get_verify_key(_SPEC_KEY), rv)


def test_sign_json_does_not_change_input_and_keeps_other_signatures() -> None:
    original = {"a": 1, "signatures": {"other.org": {"ed25519:x": "sig"}}}
    before = copy.deepcopy(original)
    signed = sign_json(original, "domain", _SPEC_KEY)
    assert original == before
    assert signed["signatures"]["other.org"] == {"ed25519:x": "sig"}
    assert set(signed["signatures"]["domain"]) == {"ed25519:1"}


def test_verify_json_rejects_tampering_wrong_key_and_missing_signature() -> None:
    signed = sign_json({"a": 1}, "domain", _SPEC_KEY)
    with pytest.raises(SignatureError):
        verify_json({**signed, "a": 2}, "domain", get_verify_key(_SPEC_KEY))
    with pytest.raises(SignatureError):
        verify_json(signed, "other", get_verify_key(_SPEC_KEY))
    with pytest.raises(SignatureError):
        verify_json({"a": 1}, "domain", get_verify_key(_SPEC_KEY))
    with pytest.raises(SignatureError):
        verify_json(
            {"a": 1, "signatures": {"domain": {"ed25519:1": 5}}},
            "domain",
            get_verify_key(_SPEC_KEY),
        )


def test_verify_json_ignores_unsigned() -> None:
    signed = sign_json({"a": 1}, "domain", _SPEC_KEY)
    verify_json({**signed, "unsigned": {"age": 5}}, "domain", get_verify_key(_SPEC_KEY))


def test_check_content_hash_detects_changed_content() -> None:
    event = add_content_hash(_message())
    assert check_content_hash(event)
    assert not check_content_hash({**event, "content": {"body": "changed"}})
    assert not check_content_hash({**event, "hashes": {"sha256": "!!not base64"}})
    assert not check_content_hash(_message())


def test_content_hash_ignores_legacy_top_level_keys() -> None:
    event = _message()
    legacy = {**event, "age_ts": 5, "outlier": True, "destinations": {"x": 1}}
    assert compute_content_hash(legacy) == compute_content_hash(event)


_extras = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)


@given(_extras, _extras, _extras)
def test_content_hash_unaffected_by_signatures_unsigned_and_hashes(
    signatures: dict[str, Any], unsigned: dict[str, Any], hashes: dict[str, Any]
) -> None:
    event = _message()
    decorated = {**event, "signatures": signatures, "unsigned": unsigned, "hashes": hashes}
    assert compute_content_hash(decorated) == compute_content_hash(event)


def test_signature_survives_redaction_but_content_hash_does_not() -> None:
    signed = hash_and_sign_event(_message(), "example.org", _OTHER_KEY, V10)
    redacted = {k: v for k, v in signed.items() if k != "content"} | {"content": {}}
    verify_event_signature(redacted, "example.org", get_verify_key(_OTHER_KEY), V10)
    assert not check_content_hash(redacted)


def test_verify_event_signature_rejects_changed_essential_field() -> None:
    signed = hash_and_sign_event(_message(), "example.org", _OTHER_KEY, V10)
    with pytest.raises(SignatureError):
        verify_event_signature(
            {**signed, "depth": 6}, "example.org", get_verify_key(_OTHER_KEY), V10
        )


def test_sign_event_merges_with_existing_signatures() -> None:
    first = hash_and_sign_event(_message(), "example.org", _OTHER_KEY, V10)
    both = sign_event(first, "domain", _SPEC_KEY, V10)
    verify_event_signature(both, "example.org", get_verify_key(_OTHER_KEY), V10)
    verify_event_signature(both, "domain", get_verify_key(_SPEC_KEY), V10)


def test_reference_hash_ignores_non_essential_fields() -> None:
    event = add_content_hash(_message())
    noisy = {**event, "unsigned": {"age": 1}, "signatures": {"x": {}}, "junk": 1}
    assert compute_reference_hash(noisy, V10) == compute_reference_hash(event, V10)
    changed = {**event, "depth": 6}
    assert compute_reference_hash(changed, V10) != compute_reference_hash(event, V10)


def test_compute_event_id_uses_the_room_version_format() -> None:
    event = add_content_hash(_message())
    digest = compute_reference_hash(event, V3)
    assert compute_event_id(event, V3) == "$" + encode_base64(digest)
    assert compute_event_id(event, V4) == "$" + encode_base64(digest, urlsafe=True)
    assert compute_event_id({**event, "event_id": "$abc:example.org"}, V1) == "$abc:example.org"
    with pytest.raises(InvalidEvent):
        compute_event_id(event, V1)


def test_compute_event_id_differs_between_v10_and_v11_when_origin_set() -> None:
    # v11 no longer keeps `origin` through redaction, so it leaves the reference hash.
    event = add_content_hash(_message())
    with_origin = {**event, "origin": "example.org"}
    assert compute_event_id(with_origin, V10) != compute_event_id(event, V10)
    assert compute_event_id(with_origin, V11) == compute_event_id(event, V11)


def test_room_id_from_create_event_uses_event_id_with_bang() -> None:
    create = add_content_hash(
        {
            k: v
            for k, v in _message(type="m.room.create", state_key="", content={}).items()
            if k != "room_id"
        }
    )
    room_id = room_id_from_create_event(create, V12)
    assert room_id == "!" + compute_event_id(create, V12)[1:]
    with pytest.raises(ValueError, match="server-assigned"):
        room_id_from_create_event(create, V11)


def test_signing_key_file_round_trips() -> None:
    text = write_signing_key(_SPEC_KEY) + "\n" + write_signing_key(_OTHER_KEY)
    keys = read_signing_keys(text)
    assert [key_id(k) for k in keys] == ["ed25519:1", "ed25519:other"]
    assert [bytes(k) for k in keys] == [bytes(_SPEC_KEY), bytes(_OTHER_KEY)]


def test_read_signing_keys_accepts_spec_seed_line() -> None:
    (key,) = read_signing_keys("ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\n")
    assert sign_json({}, "domain", key) == _JSON_SIGNING["cases"][0]["signed"]


@pytest.mark.parametrize(
    "text",
    ["ed25519 1", "rsa 1 AAAA", "ed25519 1 !!!!", "ed25519 1 AAAA", "ed25519 1 AAAA extra"],
)
def test_read_signing_keys_rejects_malformed_lines(text: str) -> None:
    with pytest.raises(ValueError, match="line 1"):
        read_signing_keys(text)


def test_generate_signing_key_is_deterministic_given_seed() -> None:
    a = generate_signing_key("a_1", seed=b"\x01" * 32)
    b = generate_signing_key("a_1", seed=b"\x01" * 32)
    assert key_id(a) == "ed25519:a_1"
    assert bytes(a) == bytes(b)
    assert bytes(generate_signing_key("a_1")) != bytes(a)


def test_verify_key_round_trips_through_base64() -> None:
    verify_key = get_verify_key(_SPEC_KEY)
    decoded = decode_verify_key("ed25519:1", encode_verify_key(verify_key))
    verify_json(sign_json({"x": 1}, "domain", _SPEC_KEY), "domain", decoded)


@pytest.mark.parametrize(("kid", "b64"), [("rsa:1", "AAAA"), ("ed25519:1", "AAAA")])
def test_decode_verify_key_rejects_bad_keys(kid: str, b64: str) -> None:
    with pytest.raises(SignatureError):
        decode_verify_key(kid, b64)
