"""GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rooms_send import room_id_param
from homeserver.api.http import json_response, query_int, requester, services
from homeserver.api.routing import CLIENT_V1, Auth, Route
from homeserver.core.errors import InvalidParam, MissingParam


async def get_timestamp_to_event(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidtimestamp_to_event

    - ``ts`` (ms) and ``dir`` (``f``/``b``) are required: 400
      M_MISSING_PARAM / M_INVALID_PARAM; 403 when the room is not readable;
      404 M_NOT_FOUND when no visible event lies in that direction.
    """
    room_id = room_id_param(request)
    ts = query_int(request, "ts", minimum=0, maximum=2**62)
    if ts is None:
        raise MissingParam("Missing 'ts'")
    direction = request.query.get("dir")
    if direction is None:
        raise MissingParam("Missing 'dir'")
    if direction not in ("f", "b"):
        raise InvalidParam("'dir' must be 'f' or 'b'")
    found = await services(request).timestamps.event_at(
        requester(request), room_id, ts, forwards=direction == "f"
    )
    return json_response(found)


routes = [
    Route(
        "GET",
        CLIENT_V1 + "/rooms/{roomId}/timestamp_to_event",
        get_timestamp_to_event,
        Auth.USER_OR_GUEST,
        r0=False,
    ),
]
