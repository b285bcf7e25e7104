"""Path and query parsing shared by the admin API modules."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.http import query_int, services
from homeserver.core.errors import InvalidIdentifier, InvalidParam, NotFound
from homeserver.core.ids import parse_room_id, parse_user_id

ADMIN_V1 = "/_synapse/admin/v1"
ADMIN_V2 = "/_synapse/admin/v2"


def path_user_id(request: web.Request, *, local: bool = True) -> str:
    """The ``{userId}`` path parameter; 400 M_INVALID_PARAM when malformed or,
    with ``local``, on another server."""
    raw = request.match_info["userId"]
    try:
        user_id = parse_user_id(raw, strict=False)
    except InvalidIdentifier as e:
        raise InvalidParam("Invalid user id") from e
    if local and user_id.partition(":")[2] != services(request).config.server_name:
        raise InvalidParam("Can only look up local users")
    return user_id


def path_room_id(request: web.Request) -> str:
    raw = request.match_info["roomId"]
    try:
        return parse_room_id(raw)
    except InvalidIdentifier as e:
        raise InvalidParam("Invalid room id") from e


async def path_room_id_or_alias(request: web.Request) -> str:
    """``{roomId}`` that may also be a local alias (resolved to its room)."""
    raw = request.match_info["roomId"]
    if raw.startswith("#"):
        try:
            return await services(request).rooms.membership.resolve_room(raw)
        except InvalidIdentifier as e:
            raise InvalidParam("Invalid room alias") from e
    if not raw.startswith("!"):
        raise InvalidParam("Invalid room id or alias")
    return path_room_id(request)


def page(request: web.Request, *, default_limit: int = 100) -> tuple[int, int]:
    """``from`` (an offset) and ``limit`` query parameters."""
    offset = query_int(request, "from", 0, minimum=0)
    assert offset is not None
    limit = query_int(request, "limit", default_limit, minimum=0, maximum=10_000)
    assert limit is not None
    if limit == 0:
        raise InvalidParam("'limit' must be positive")
    return offset, limit


def direction(request: web.Request) -> bool:
    """``dir`` (``f`` or ``b``); True when backwards."""
    value = request.query.get("dir", "f")
    if value not in ("f", "b"):
        raise InvalidParam("'dir' must be 'f' or 'b'")
    return value == "b"


__all__ = ["ADMIN_V1", "ADMIN_V2", "NotFound", "direction", "page", "path_room_id", "path_user_id"]


def report_filters(request: web.Request) -> dict[str, Any]:
    """The paging, order and filters shared by the report listings: ``from``/
    ``limit``, ``dir`` (default ``b``: newest first), ``user_id``, ``room_id``."""
    offset, limit = page(request)
    return {
        "offset": offset,
        "limit": limit,
        "descending": direction(request) if "dir" in request.query else True,
        "user_id": request.query.get("user_id"),
        "room_id": request.query.get("room_id"),
    }
