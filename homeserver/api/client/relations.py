"""Event relationships and threads: GET /rooms/{roomId}/relations/… and
GET /rooms/{roomId}/threads (client API v1)."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rooms_send import event_id_param, room_id_param
from homeserver.api.http import json_response, query_int, requester, services
from homeserver.api.routing import CLIENT_V1, Auth, Route
from homeserver.core.errors import InvalidParam
from homeserver.services.rooms import relations as rel
from homeserver.services.rooms import threads


def _recurse(request: web.Request) -> bool | None:
    raw = request.query.get("recurse")
    if raw is None:
        return None
    if raw in ("true", "false"):
        return raw == "true"
    raise InvalidParam("'recurse' must be true or false")


async def get_relations(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidrelationseventid

    - ``from``/``to`` tokens (as /messages), ``dir`` b|f, ``limit``, ``recurse``.
    - 404 M_NOT_FOUND when the parent is unknown or not visible to the user.
    """
    direction = request.query.get("dir", "b")
    if direction not in ("b", "f"):
        raise InvalidParam("'dir' must be 'b' or 'f'")
    limit = query_int(request, "limit", rel.DEFAULT_LIMIT, minimum=1, maximum=rel.MAX_LIMIT)
    rel_type, event_type = request.match_info.get("relType"), request.match_info.get("eventType")
    if "\x00" in (rel_type or "") + (event_type or ""):
        raise InvalidParam("Invalid relation or event type")
    body = await services(request).relations.relations(
        requester(request),
        room_id_param(request),
        event_id_param(request),
        rel_type=rel_type,
        event_type=event_type,
        from_token=request.query.get("from"),
        to_token=request.query.get("to"),
        backwards=direction == "b",
        limit=limit or rel.DEFAULT_LIMIT,
        recurse=_recurse(request),
    )
    return json_response(body)


async def get_threads(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/rooms/{roomId}/threads

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidthreads

    - ``include`` all|participated, ``from`` (a ``next_batch``), ``limit`` (> 0).
    - 403 M_FORBIDDEN when the user may not read the room.
    """
    limit = query_int(request, "limit", threads.DEFAULT_LIMIT, minimum=1, maximum=threads.MAX_LIMIT)
    body = await services(request).threads.list_threads(
        requester(request),
        room_id_param(request),
        include=request.query.get("include", "all"),
        from_token=request.query.get("from"),
        limit=limit or threads.DEFAULT_LIMIT,
    )
    return json_response(body)


_ROOM = CLIENT_V1 + "/rooms/{roomId}"
_RELATIONS = _ROOM + "/relations/{eventId}"

routes = [
    Route("GET", _RELATIONS, get_relations, Auth.USER_OR_GUEST, r0=False),
    Route("GET", _RELATIONS + "/{relType}", get_relations, Auth.USER_OR_GUEST, r0=False),
    Route(
        "GET", _RELATIONS + "/{relType}/{eventType}", get_relations, Auth.USER_OR_GUEST, r0=False
    ),
    Route("GET", _ROOM + "/threads", get_threads, Auth.USER_OR_GUEST, r0=False),
]
