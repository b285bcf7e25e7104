"""Pushers: ``GET /pushers`` and ``POST /pushers/set`` (spec "Client behaviour")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route


async def get_pushers(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/pushers

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3pushers

    - The requesting user's pushers.
    """
    pushers = await services(request).push.pushers.get_all(requester(request))
    return json_response({"pushers": pushers})


async def post_pushers_set(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/pushers/set

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3pushersset

    - ``kind: null`` deletes the pusher with this ``app_id`` and ``pushkey``;
      otherwise creates or updates it (``http`` only).
    - ``append: false`` removes other users' pushers with the same
      ``app_id`` and ``pushkey``.
    - 400 M_MISSING_PARAM (names every missing field), M_BAD_JSON,
      M_INVALID_PARAM (kind, url, lengths).
    """
    body = await json_object(request)
    await services(request).push.pushers.set(requester(request), body)
    return json_response({})


routes = [
    Route("GET", CLIENT_V3 + "/pushers", get_pushers, Auth.USER),
    Route("POST", CLIENT_V3 + "/pushers/set", post_pushers_set, Auth.USER, ratelimit="message"),
]
