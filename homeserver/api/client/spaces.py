"""Spaces: GET /_matrix/client/v1/rooms/{roomId}/hierarchy."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rooms_send import room_id_param
from homeserver.api.http import json_response, query_bool, query_int, requester, services
from homeserver.api.routing import CLIENT_V1, Auth, Route
from homeserver.services.rooms.spaces import HierarchyQuery


async def get_hierarchy(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/rooms/{roomId}/hierarchy

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidhierarchy

    - Depth-first walk of m.space.child events (non-empty ``via``) over the
      rooms the user may see; ``suggested_only``, ``max_depth``, ``limit``,
      ``from``.
    - 400 M_INVALID_PARAM (bad parameters or token), 403 M_FORBIDDEN when
      the user may not see the room.
    """
    room_id = room_id_param(request)
    query = HierarchyQuery(
        suggested_only=query_bool(request, "suggested_only"),
        max_depth=query_int(request, "max_depth", minimum=0),
        limit=query_int(request, "limit", minimum=1),
        from_token=request.query.get("from"),
    )
    result = await services(request).spaces.hierarchy(requester(request), room_id, query)
    return json_response(result)


routes = [
    Route(
        "GET", CLIENT_V1 + "/rooms/{roomId}/hierarchy", get_hierarchy, Auth.USER_OR_GUEST, r0=False
    ),
]
