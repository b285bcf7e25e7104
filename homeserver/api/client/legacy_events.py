"""Deprecated endpoints older clients still call: GET /events, GET /events/{eventId},
GET /initialSync and GET /rooms/{roomId}/initialSync.

See ``services/rooms/legacy.py`` for how each maps onto /sync and the room
readers.
"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rooms_send import event_id_param, room_id_param
from homeserver.api.http import json_response, query_bool, query_int, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import InvalidIdentifier, InvalidParam
from homeserver.core.ids import parse_room_id
from homeserver.core.tokens import InvalidToken, StreamToken

#: The old stream's default wait when ``timeout`` is not given.
DEFAULT_TIMEOUT_MS = 30_000


async def get_event(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/events/{eventId}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3eventseventid

    - Deprecated: like ``/rooms/{roomId}/event/{eventId}``; 404 M_NOT_FOUND
      when unknown or not visible to the user.
    """
    event_id = event_id_param(request)
    return json_response(await services(request).legacy_sync.event(requester(request), event_id))


async def get_room_initial_sync(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/initialSync

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidinitialsync

    - Deprecated: the newest messages, the state, visibility and the user's
      room account data; 403 M_FORBIDDEN when the user may not read the room.
    """
    room_id = room_id_param(request)
    body = await services(request).legacy_sync.room_initial_sync(requester(request), room_id)
    return json_response(body)


async def get_initial_sync(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/initialSync

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3initialsync

    - Deprecated: every joined or invited room (``archived=true``: also left
      ones) with ``limit`` messages each, and ``end`` to stream from.
    """
    limit = query_int(request, "limit", 10, minimum=0, maximum=100) or 0
    archived = query_bool(request, "archived")
    body = await services(request).legacy_sync.initial_sync(requester(request), limit, archived)
    return json_response(body)


async def get_events(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/events

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3events

    - Deprecated: events after ``from`` (a /sync or ``end`` token; now when
      absent), waiting up to ``timeout`` ms; ``end`` continues the stream.
    - ``room_id`` peeks into a room the user may read (403 M_FORBIDDEN
      unless joined or ``world_readable``).
    - 400 M_INVALID_PARAM for a bad token, timeout or room id.
    """
    raw_from = request.query.get("from")
    since = None
    if raw_from:
        try:
            since = StreamToken.parse(raw_from)
        except InvalidToken as e:
            raise InvalidParam(f"Invalid 'from' token: {e}") from e
    timeout = query_int(request, "timeout", DEFAULT_TIMEOUT_MS, minimum=0) or 0
    raw_room = request.query.get("room_id")
    room_id = None
    if raw_room is not None:
        try:
            room_id = parse_room_id(raw_room)
        except InvalidIdentifier as e:
            raise InvalidParam(f"Invalid room id: {e}") from e
    body = await services(request).legacy_sync.events(requester(request), since, timeout, room_id)
    return json_response(body)


routes = [
    Route("GET", CLIENT_V3 + "/events/{eventId}", get_event, Auth.USER_OR_GUEST),
    Route(
        "GET", CLIENT_V3 + "/rooms/{roomId}/initialSync", get_room_initial_sync, Auth.USER_OR_GUEST
    ),
    Route("GET", CLIENT_V3 + "/initialSync", get_initial_sync, Auth.USER_OR_GUEST),
    Route("GET", CLIENT_V3 + "/events", get_events, Auth.USER_OR_GUEST),
]
