"""Canonical JSON: the spec examples, the number rules and round trips."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from homeserver.core.canonical_json import (
    MAX_SAFE_INT,
    MIN_SAFE_INT,
    check_canonical,
    decode_json,
    encode_canonical_json,
)
from homeserver.core.errors import CanonicalJsonError

_SPEC = json.loads(
    (Path(__file__).parent / "fixtures" / "spec" / "canonical_json.json").read_text("utf-8")
)


@pytest.mark.parametrize("case", _SPEC["cases"], ids=lambda c: c["canonical"][:40])
def test_encode_canonical_json_matches_spec_examples(case: dict[str, Any]) -> None:
    value = decode_json(
        case["input"], integral_floats_as_ints=case.get("integral_floats_as_ints", False)
    )
    assert encode_canonical_json(value) == case["canonical"].encode("utf-8")


def test_encode_canonical_json_escapes_control_characters_minimally() -> None:
    assert (
        encode_canonical_json({"a": '\x00\x1f\n"\\/é'})
        == '{"a":"\\u0000\\u001f\\n\\"\\\\/é"}'.encode()
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_encode_canonical_json_rejects_non_finite_floats(value: float) -> None:
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json({"a": value})


def test_encode_canonical_json_rejects_unknown_types() -> None:
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json({"a": object()})


@pytest.mark.parametrize("value", [MAX_SAFE_INT, MIN_SAFE_INT, 0, True, None, "x", [1, {"b": 2}]])
def test_check_canonical_accepts_safe_values_when_strict(value: object) -> None:
    check_canonical({"a": value}, strict=True)


@pytest.mark.parametrize("value", [MAX_SAFE_INT + 1, MIN_SAFE_INT - 1, 1.5, 1.0, [2**63]])
def test_check_canonical_rejects_floats_and_big_ints_when_strict(value: object) -> None:
    with pytest.raises(CanonicalJsonError):
        check_canonical({"a": {"b": value}}, strict=True)


@pytest.mark.parametrize("value", [MAX_SAFE_INT + 1, 2**70, 1.5])
def test_check_canonical_tolerates_floats_and_big_ints_when_lenient(value: object) -> None:
    check_canonical({"a": [value]}, strict=False)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_check_canonical_rejects_non_finite_floats_always(value: float) -> None:
    with pytest.raises(CanonicalJsonError):
        check_canonical({"a": value}, strict=False)


def test_check_canonical_rejects_non_string_keys() -> None:
    with pytest.raises(CanonicalJsonError):
        check_canonical({1: "a"}, strict=False)


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', "{", ""])
def test_decode_json_rejects_invalid_json(text: str) -> None:
    with pytest.raises(CanonicalJsonError):
        decode_json(text)


def test_decode_json_rejects_duplicate_keys_unless_allowed() -> None:
    with pytest.raises(CanonicalJsonError):
        decode_json('{"a": 1, "a": 2}')
    assert decode_json('{"a": 1, "a": 2}', allow_duplicate_keys=True) == {"a": 2}


def test_decode_json_keeps_floats_by_default() -> None:
    assert decode_json('{"a": 1e10, "b": 1.5}') == {"a": 1e10, "b": 1.5}
    assert isinstance(decode_json("1e10"), float)
    assert decode_json("1e10", integral_floats_as_ints=True) == 10**10
    assert isinstance(decode_json("1.5", integral_floats_as_ints=True), float)


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=MIN_SAFE_INT, max_value=MAX_SAFE_INT)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_json_values)
@example({"\u2028": "\U0001f600", "b": [-0]})
def test_canonical_json_is_stable_through_round_trip(value: Any) -> None:
    encoded = encode_canonical_json(value)
    decoded = decode_json(encoded)
    assert decoded == value
    assert encode_canonical_json(decoded) == encoded
    check_canonical(decoded, strict=True)


@given(st.dictionaries(st.text(max_size=8), st.integers(), max_size=6))
def test_canonical_json_sorts_keys_by_code_point(value: dict[str, int]) -> None:
    decoded = json.loads(encode_canonical_json(value))
    assert list(decoded) == sorted(value)
