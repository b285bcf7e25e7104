"""Presence: ``GET``/``PUT /presence/{userId}/status``."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import get_str, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import Forbidden


async def get_presence(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/presence/{userId}/status

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3presenceuseridstatus

    - Your own, or of a user sharing a room with you (403 otherwise, and
      when presence is turned off).
    """
    content = await services(request).sync.presence.get_presence(
        requester(request).user_id, request.match_info["userId"]
    )
    return json_response(content)


async def put_presence(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/presence/{userId}/status

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3presenceuseridstatus

    - ``presence`` (online / unavailable / offline) and ``status_msg``.
    - Only your own (403). Ignored when presence is turned off.
    """
    who = requester(request)
    if request.match_info["userId"] != who.user_id:
        raise Forbidden("Cannot set presence for other users")
    body = await json_object(request)
    state = get_str(body, "presence", required=True) or ""
    await services(request).sync.presence.set_presence(
        who.user_id, state, get_str(body, "status_msg")
    )
    return json_response({})


routes = [
    Route("GET", CLIENT_V3 + "/presence/{userId}/status", get_presence, Auth.USER_OR_GUEST),
    Route("PUT", CLIENT_V3 + "/presence/{userId}/status", put_presence, Auth.USER_OR_GUEST),
]
