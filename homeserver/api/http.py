"""Request and response helpers for handlers."""

from __future__ import annotations

import json
from typing import Any

import orjson
from aiohttp import web
from canonicaljson import encode_canonical_json

from homeserver.core.errors import BadJson, MissingParam, NotJson, TooLarge
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


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: web.Request, *, allow_empty: bool = False) -> Any:
    """Reads the body as JSON, any value.

    Raises:
        TooLarge: over the configured body limit (checked before reading it whole).
        NotJson: not JSON.
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
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise NotJson("Content not JSON") from e


async def json_object(request: web.Request, *, allow_empty: bool = False) -> JsonDict:
    """Reads the body as a JSON object (M_NOT_JSON / M_BAD_JSON otherwise)."""
    body = await read_json(request, allow_empty=allow_empty)
    if not isinstance(body, dict):
        raise NotJson("Request body must be a JSON object")
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
    """An integer query parameter (M_INVALID_PARAM when not an integer)."""
    from homeserver.core.errors import InvalidParam

    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError as e:
        raise InvalidParam(f"'{name}' must be an integer") from e
    if minimum is not None and v < minimum:
        raise InvalidParam(f"'{name}' must be at least {minimum}")
    if maximum is not None and v > maximum:
        v = maximum
    return v


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    from homeserver.core.errors import InvalidParam

    raw = request.query.get(name)
    if raw is None:
        return default
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise InvalidParam(f"'{name}' must be true or false")
