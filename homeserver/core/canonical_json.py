"""Canonical JSON: the encoding that hashes and signatures are computed over.

Canonical JSON (spec appendix) is the shortest UTF-8 encoding with object keys
sorted by code point. Its numbers are integers in ``[-(2**53)+1, 2**53-1]``.
Room versions 6 and later enforce those number rules on events; earlier
versions must tolerate floats and large integers because old events contain
them. ``NaN`` and the infinities are not JSON at all and are always refused.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from canonicaljson import encode_canonical_json as _encode

from homeserver.core.errors import CanonicalJsonError

#: Bounds of the integers canonical JSON allows (inclusive).
MIN_SAFE_INT = -(2**53) + 1
MAX_SAFE_INT = 2**53 - 1


def encode_canonical_json(obj: object) -> bytes:
    """Encodes a value as canonical JSON.

    This does not check the number rules; call ``check_canonical`` first
    where the room version requires them.

    Args:
        obj: a JSON-compatible value (dicts with str keys, lists, tuples,
            str, int, float, bool, None).

    Returns:
        The UTF-8 bytes.

    Raises:
        CanonicalJsonError: the value holds NaN, an infinity or a type JSON
            cannot represent.
    """
    try:
        return _encode(obj)
    except (TypeError, ValueError) as e:
        raise CanonicalJsonError(f"Cannot encode as canonical JSON: {e}") from e


def check_canonical(obj: object, *, strict: bool) -> None:
    """Checks that a decoded JSON value obeys the canonical number rules.

    Args:
        obj: the value to walk.
        strict: apply the rules of room versions 6+: no floats, integers
            within ``[MIN_SAFE_INT, MAX_SAFE_INT]``. NaN and infinities are
            refused either way.

    Raises:
        CanonicalJsonError: the first offending value found.
    """
    stack: list[object] = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise CanonicalJsonError(f"Object key {key!r} is not a string")
                stack.append(item)
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, int):
            if strict and not MIN_SAFE_INT <= value <= MAX_SAFE_INT:
                raise CanonicalJsonError(f"Integer {value} is out of the canonical JSON range")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise CanonicalJsonError(f"{value!r} is not valid JSON")
            if strict:
                raise CanonicalJsonError(f"Float {value!r} is not allowed in canonical JSON")
        else:
            raise CanonicalJsonError(f"{type(value).__name__} is not a JSON type")


def _reject_constant(name: str) -> Any:
    raise CanonicalJsonError(f"{name} is not valid JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalJsonError(f"Duplicate key {key!r} in JSON object")
        result[key] = value
    return result


def _integral_number(text: str) -> int | float:
    # "1e10" and "-0.0" denote integers; canonical JSON writes them as such.
    number = Decimal(text)
    if number == number.to_integral_value():
        return int(number)
    return float(text)


def decode_json(
    data: str | bytes,
    *,
    allow_duplicate_keys: bool = False,
    integral_floats_as_ints: bool = False,
) -> Any:
    """Decodes JSON text, refusing ``NaN``/``Infinity`` and duplicate keys.

    Args:
        data: JSON text (bytes are decoded as UTF-8).
        allow_duplicate_keys: keep the last value of a repeated key instead
            of refusing the document.
        integral_floats_as_ints: decode numbers written with a fraction or
            an exponent that denote an integer (``1e10``) as ``int``, as the
            spec's canonical JSON examples expect. Off by default: peers
            hashed such numbers in v1-v5 events as floats, so re-reading them
            as integers would change the hash.

    Returns:
        The decoded value.

    Raises:
        CanonicalJsonError: the text is not JSON, or breaks the rules above.
    """
    try:
        return json.loads(
            data,
            parse_constant=_reject_constant,
            parse_float=_integral_number if integral_floats_as_ints else float,
            object_pairs_hook=None if allow_duplicate_keys else _object_without_duplicates,
        )
    except CanonicalJsonError:
        raise
    except (ValueError, RecursionError) as e:
        raise CanonicalJsonError(f"Invalid JSON: {e}") from e
