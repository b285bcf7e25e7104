"""Voice over IP: TURN server credentials for 1:1 calls."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route


async def get_turn_server(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/voip/turnServer

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3voipturnserver

    - ``{username, password, uris, ttl}`` from the ``voip`` config: coturn's
      shared-secret scheme, or a static username and password.
    - ``{}`` when no TURN server is configured (or guests are not allowed one).
    """
    return json_response(services(request).turn.for_requester(requester(request)))


routes = [
    Route("GET", CLIENT_V3 + "/voip/turnServer", get_turn_server, Auth.USER_OR_GUEST),
]
