"""Shape checks for uploaded key objects, shared by the e2e services.

Everything that ends up as an SQL parameter is checked to be text both
backends accept: PostgreSQL refuses NUL characters, and neither driver can
encode a lone surrogate (which JSON's ``\\ud800`` escapes can produce).
"""

from __future__ import annotations

from typing import Any

from homeserver.core.errors import BadJson, InvalidParam
from homeserver.core.ids import parse_user_id

JsonDict = dict[str, Any]

#: Longest key id, algorithm or device id accepted.
MAX_ID_LENGTH = 255


def is_storable_text(value: str, max_length: int = MAX_ID_LENGTH) -> bool:
    """Whether ``value`` can be stored as a TEXT column value on both backends."""
    if not value or len(value) > max_length or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_id(value: Any, what: str) -> str:
    """A non-empty storable string, else M_INVALID_PARAM / M_BAD_JSON."""
    if not isinstance(value, str):
        raise BadJson(f"{what} must be a string")
    if not is_storable_text(value):
        raise InvalidParam(f"Invalid {what}")
    return value


def is_valid_user_id(value: Any) -> bool:
    if not isinstance(value, str) or not is_storable_text(value):
        return False
    try:
        parse_user_id(value, strict=False)
    except ValueError:
        return False
    return True


def split_key_id(value: Any, what: str) -> tuple[str, str]:
    """``algorithm:key_id`` → ``(algorithm, key_id)``; both parts non-empty."""
    check_id(value, what)
    algorithm, sep, key_id = value.partition(":")
    if not sep or not algorithm or not key_id:
        raise InvalidParam(f"Invalid {what} {value[:80]!r}: expected 'algorithm:key_id'")
    return algorithm, key_id


def check_signatures(value: Any, what: str) -> None:
    """``signatures`` is ``{user_id: {key_id: signature string}}``."""
    if not isinstance(value, dict):
        raise BadJson(f"{what}: 'signatures' must be an object")
    for sigs in value.values():
        if not isinstance(sigs, dict) or not all(isinstance(s, str) for s in sigs.values()):
            raise BadJson(f"{what}: 'signatures' must map user ids to key ids to strings")


def strip_signatures(obj: JsonDict) -> JsonDict:
    """The object without ``signatures`` and ``unsigned``: what a signature covers."""
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
