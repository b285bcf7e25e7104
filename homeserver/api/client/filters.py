"""Filtering: upload and read sync filters."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_response, read_json, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route


async def post_filter(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/user/{userId}/filter

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3useruseridfilter

    - Stores the body as a filter; returns ``filter_id``.
    - 403 M_FORBIDDEN for another user; 400 M_BAD_JSON for an invalid filter.
    """
    body = await read_json(request)
    filter_id = await services(request).sync.filters.create(
        requester(request), request.match_info["userId"], body
    )
    return json_response({"filter_id": str(filter_id)})


async def get_filter(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/user/{userId}/filter/{filterId}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3useruseridfilterfilterid

    - The stored definition; 404 M_NOT_FOUND when unknown, 403 for another user.
    """
    definition = await services(request).sync.filters.get_definition(
        requester(request), request.match_info["userId"], request.match_info["filterId"]
    )
    return json_response(definition)


routes = [
    Route("POST", CLIENT_V3 + "/user/{userId}/filter", post_filter, Auth.USER_OR_GUEST),
    Route("GET", CLIENT_V3 + "/user/{userId}/filter/{filterId}", get_filter, Auth.USER_OR_GUEST),
]
