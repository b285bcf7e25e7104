"""Response bodies: canonical JSON through orjson, with the canonical encoder
as the fallback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from canonicaljson import encode_canonical_json
from hypothesis import given, settings
from hypothesis import strategies as st

from homeserver.api.http import encode_json


@pytest.mark.parametrize(
    "body",
    [
        {"b": 1, "a": ["x", {"é": "ü"}, None, True, 1.5]},
        {"n": 2**70},  # beyond 64 bits: orjson refuses, canonical JSON encodes it
        [],
        {"nested": {"k": [1, 2, {"z": "\u2028"}]}},
    ],
)
def test_encode_json_round_trips(body: Any) -> None:
    assert json.loads(encode_json(body)) == body
    assert encode_json(body) == encode_canonical_json(body)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_encode_json_is_canonical_json(body: Any) -> None:
    assert encode_json(body) == encode_canonical_json(body)


def test_encode_json_keeps_non_ascii_as_utf8() -> None:
    assert encode_json({"name": "张三"}) == '{"name":"张三"}'.encode()
