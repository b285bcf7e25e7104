"""Request and response helpers for handlers."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson
from aiohttp import web
from canonicaljson import encode_canonical_json

from homeserver.core.errors import BadJson, InvalidParam, MissingParam, NotJson, TooLarge
from homeserver.services.container import Services
from homeserver.services.requester import Requester

SERVICES_KEY = web.AppKey("services", Services)
REQUESTER_KEY = web.RequestKey("requester", Requester)

JsonDict = dict[str, Any]


def services(request: web.Request) -> Services:
    return request.app[SERVICES_KEY]


def requester(request: web.Request) -> Requester:
    """The authenticated requester (the route's auth level guarantees one)."""
    r: Requester | None = request.get(REQUESTER_KEY)
    if r is None:
        raise RuntimeError("route has no authenticated requester")
    return r


def optional_requester(request: web.Request) -> Requester | None:
    return request.get(REQUESTER_KEY)


#: The deepest nesting of arrays and objects a request body may have. Real
#: Matrix bodies stay under ten levels; the bound keeps every later walk over
#: a body (canonical JSON, redaction, push rule matching) far from Python's
#: recursion limit.
MAX_JSON_DEPTH = 100

#: Integers a request body may hold: those of a signed 64-bit column. Events
#: are held to canonical JSON's narrower range by their room version.
MIN_JSON_INT = -(2**63)
MAX_JSON_INT = 2**63 - 1


class _OutOfRange(ValueError):
    """A number the JSON grammar allows but a Matrix body cannot hold."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _OutOfRange(f"Number {text[:20]} is out of range")
    return value


def _check_string(value: str) -> None:
    if "\x00" in value:
        raise BadJson("Strings must not contain NUL (U+0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise BadJson("Strings must not contain unpaired surrogates") from e


def check_json_value(value: Any, *, check_strings: bool = True, check_ints: bool = True) -> None:
    """Checks a decoded request body against what every Matrix body must obey.

    Args:
        value: the decoded body.
        check_strings: look for NUL and lone surrogates in keys and strings.
        check_ints: look for integers outside the signed 64-bit range.

    Raises:
        NotJson: nested deeper than ``MAX_JSON_DEPTH``.
        BadJson: an integer outside the signed 64-bit range, or a string or
            key with NUL or an unpaired surrogate (neither can be stored in
            PostgreSQL text nor encoded as UTF-8).
    """
    # Only containers go on the stack, so a body with nothing to look for
    # in its leaves costs one step per object or array.
    stack: list[tuple[list[Any] | dict[str, Any], int]] = [([value], -1)]
    while stack:
        container, depth = stack.pop()
        if depth >= MAX_JSON_DEPTH:
            raise NotJson(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(container, dict):
            if check_strings:
                for key in container:
                    _check_string(key)
            children: Any = container.values()
        else:
            children = container
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, str):
                if check_strings:
                    _check_string(child)
            elif check_ints and type(child) is int and not MIN_JSON_INT <= child <= MAX_JSON_INT:
                raise BadJson("JSON integer out of range")


#: A run of digits long enough to be an integer beyond 64 bits.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


async def read_json(request: web.Request, *, allow_empty: bool = False) -> Any:
    """Reads the body as JSON, any value.

    Every body is held to the same rules here, so no handler or store sees
    a value it cannot encode or store (see ``check_json_value``).

    Raises:
        TooLarge: over the configured body limit (checked before reading it whole).
        NotJson: not JSON (as Synapse answers, also when nested too deep).
        BadJson: JSON, but with a value no Matrix body may hold.
    """
    limit = services(request).config.limits.max_request_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge("Request body too large")
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise TooLarge("Request body too large")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        if allow_empty:
            return {}
        raise NotJson("Request body is empty; expected JSON")
    try:
        body = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except _OutOfRange as e:
        raise BadJson(str(e)) from e
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        # RecursionError: nesting deep enough to exhaust the parser's stack.
        raise NotJson("Content not JSON") from e
    # NUL and lone surrogates can only come from a \\u escape (raw control
    # characters and surrogate bytes fail to decode), and an integer beyond
    # 64 bits needs 19 digits: most bodies skip those checks.
    check_json_value(
        body,
        check_strings=b"\\u" in raw,
        check_ints=_LONG_DIGITS.search(raw) is not None,
    )
    return body


async def json_object(request: web.Request, *, allow_empty: bool = False) -> JsonDict:
    """Reads the body as a JSON object.

    Raises:
        NotJson: not JSON (see ``read_json``).
        BadJson: JSON, but not an object (a string, array, number...), as
            Synapse answers "Content must be a JSON object".
    """
    body = await read_json(request, allow_empty=allow_empty)
    if not isinstance(body, dict):
        raise BadJson("Content must be a JSON object")
    return body


def encode_json(body: Any) -> bytes:
    """A response body in canonical JSON (signed responses such as server
    keys are checked against their bytes), encoded by orjson with sorted
    keys: the same bytes as the canonical encoder for any valid Matrix JSON,
    several times faster. Values orjson refuses (integers beyond 64 bits,
    lone surrogates, keys that are not strings) go to the canonical encoder."""
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return encode_canonical_json(body)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=encode_json(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def get_str(
    body: JsonDict, key: str, *, required: bool = False, default: str | None = None
) -> str | None:
    """``body[key]`` as a string.

    M_BAD_JSON when of the wrong type, M_MISSING_PARAM when required and absent.
    """
    v = body.get(key)
    if v is None:
        if required:
            raise MissingParam(f"Missing '{key}'")
        return default
    if not isinstance(v, str):
        raise BadJson(f"'{key}' must be a string")
    return v


def get_bool(body: JsonDict, key: str, default: bool = False) -> bool:
    v = body.get(key, default)
    if not isinstance(v, bool):
        raise BadJson(f"'{key}' must be a boolean")
    return v


def get_obj(body: JsonDict, key: str, *, required: bool = False) -> JsonDict | None:
    v = body.get(key)
    if v is None:
        if required:
            raise MissingParam(f"Missing '{key}'")
        return None
    if not isinstance(v, dict):
        raise BadJson(f"'{key}' must be an object")
    return v


def query_int(
    request: web.Request,
    name: str,
    default: int | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """An integer query parameter.

    M_INVALID_PARAM when not an integer, outside the signed 64-bit range or
    below ``minimum``; values above ``maximum`` are clamped to it.
    """
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError as e:
        raise InvalidParam(f"'{name}' must be an integer") from e
    if not MIN_JSON_INT <= v <= MAX_JSON_INT:
        raise InvalidParam(f"'{name}' is out of range")
    if minimum is not None and v < minimum:
        raise InvalidParam(f"'{name}' must be at least {minimum}")
    if maximum is not None and v > maximum:
        v = maximum
    return v


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise InvalidParam(f"'{name}' must be true or false")
