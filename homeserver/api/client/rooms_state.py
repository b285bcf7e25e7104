"""Reading room state: GET /rooms/{roomId}/state[/{eventType}[/{stateKey}]]."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rooms_send import room_id_param
from homeserver.api.http import json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import InvalidParam


async def get_state(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/state

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidstate

    - Current state for members; the state when they left for former
      members; 403 M_FORBIDDEN for everyone else (unless world readable).
    """
    state = await services(request).rooms.read.get_state(requester(request), room_id_param(request))
    return json_response(state)


async def get_state_event(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidstateeventtypestatekey

    - The content, or the whole client event with ``?format=event``.
    - Also serves the form without ``/{stateKey}`` (empty state key).
    - 404 M_NOT_FOUND when the room has no such state; 403 as for /state.
    """
    fmt = request.query.get("format", "content")
    if fmt not in ("content", "event"):
        raise InvalidParam("'format' must be 'content' or 'event'")
    event = await services(request).rooms.read.get_state_event(
        requester(request),
        room_id_param(request),
        request.match_info["eventType"],
        request.match_info.get("stateKey", ""),
    )
    return json_response(event if fmt == "event" else event["content"])


_ROOM = CLIENT_V3 + "/rooms/{roomId}"

routes = [
    Route("GET", _ROOM + "/state", get_state, Auth.USER_OR_GUEST),
    Route("GET", _ROOM + "/state/{eventType}", get_state_event, Auth.USER_OR_GUEST),
    Route("GET", _ROOM + "/state/{eventType}/{stateKey:.*}", get_state_event, Auth.USER_OR_GUEST),
]
