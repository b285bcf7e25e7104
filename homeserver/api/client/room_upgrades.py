"""Room upgrades: POST /rooms/{roomId}/upgrade."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rooms_send import room_id_param
from homeserver.api.http import get_str, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import BadJson


async def post_upgrade(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/upgrade

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidupgrade

    - ``{replacement_room}``; the old room gets a tombstone, its state and
      local aliases move to the new room.
    - 400 M_UNSUPPORTED_ROOM_VERSION, M_MISSING_PARAM / M_BAD_JSON;
      403 M_FORBIDDEN without the power to send m.room.tombstone;
      404 M_NOT_FOUND for an unknown room.
    """
    room_id = room_id_param(request)
    body = await json_object(request)
    new_version = get_str(body, "new_version", required=True) or ""
    extra = body.get("additional_creators", [])
    if not isinstance(extra, list):
        raise BadJson("'additional_creators' must be a list of user ids")
    replacement = await services(request).room_upgrades.upgrade(
        requester(request), room_id, new_version, extra
    )
    return json_response({"replacement_room": replacement})


routes = [
    Route(
        "POST",
        CLIENT_V3 + "/rooms/{roomId}/upgrade",
        post_upgrade,
        Auth.USER,
        ratelimit="message",
    ),
]
