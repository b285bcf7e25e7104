"""Mutual rooms: GET /_matrix/client/v1/mutual_rooms?user_id=…"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_response, requester, services
from homeserver.api.routing import CLIENT_V1, Auth, Route
from homeserver.core.errors import InvalidIdentifier, InvalidParam, MissingParam
from homeserver.core.ids import parse_user_id


async def get_mutual_rooms(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/mutual_rooms

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mutual_rooms

    - ``joined``: rooms both users are joined to; ``count``: how many in all;
      ``next_batch`` while more pages follow (pass it back as ``from``).
    - 400 M_MISSING_PARAM without ``user_id``; 400 M_INVALID_PARAM for a
      malformed ``user_id``, your own id or a bad ``from`` token. An unknown
      user shares no rooms.
    """
    raw = request.query.get("user_id")
    if raw is None:
        raise MissingParam("Missing 'user_id'")
    try:
        user_id = parse_user_id(raw)
    except InvalidIdentifier as e:
        raise InvalidParam(f"Invalid user id: {e}") from e
    result = await services(request).user_directory.mutual_rooms(
        requester(request), user_id, request.query.get("from")
    )
    return json_response(result)


routes = [
    Route("GET", CLIENT_V1 + "/mutual_rooms", get_mutual_rooms, Auth.USER),
    # MSC2666's unstable path, still used by clients.
    Route(
        "GET",
        "/_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms",
        get_mutual_rooms,
        Auth.USER,
    ),
]
