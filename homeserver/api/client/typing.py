"""Typing notifications: ``PUT /rooms/{roomId}/typing/{userId}``."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import get_bool, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import BadJson, Forbidden, InvalidIdentifier, InvalidParam, MissingParam
from homeserver.core.ids import parse_room_id


async def put_typing(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidtypinguserid

    - ``typing`` (required) and ``timeout`` (ms) in the body.
    - Only for yourself (403), only in a room you are joined to (403).
    """
    try:
        room_id = parse_room_id(request.match_info["roomId"])
    except (InvalidIdentifier, UnicodeError) as e:
        raise InvalidParam("Invalid room ID") from e
    who = requester(request)
    if request.match_info["userId"] != who.user_id:
        raise Forbidden("Cannot set typing for other users")
    body = await json_object(request)
    if "typing" not in body:
        raise MissingParam("Missing 'typing'")
    typing = get_bool(body, "typing")
    timeout = body.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)):
        raise BadJson("'timeout' must be an integer")
    await services(request).sync.typing.set_typing(who.user_id, room_id, typing, timeout)
    return json_response({})


routes = [
    Route("PUT", CLIENT_V3 + "/rooms/{roomId}/typing/{userId}", put_typing, Auth.USER_OR_GUEST)
]
