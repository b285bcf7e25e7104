"""Response bodies: fast JSON, with the canonical encoder as the fallback."""

from __future__ import annotations

import json
from typing import Any

import pytest

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


def test_encode_json_keeps_non_ascii_as_utf8() -> None:
    assert encode_json({"name": "张三"}) == '{"name":"张三"}'.encode()
