"""Client-server endpoints for application services: ping and the
per-network room directory."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rooms_send import room_id_param
from homeserver.api.http import get_str, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V1, CLIENT_V3, Auth, Route
from homeserver.core.errors import Forbidden, InvalidParam, NotFound


async def post_ping(request: web.Request) -> web.Response:
    """POST /_matrix/client/v1/appservice/{appserviceId}/ping

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv1appserviceappserviceidping

    - The homeserver calls the appservice's ``POST /_matrix/app/v1/ping``
      (with ``transaction_id`` when given) and returns ``duration_ms``.
    - 403 M_FORBIDDEN unless the as_token is this appservice's; 400
      M_URL_NOT_SET; 502 M_BAD_STATUS (with ``status`` and ``body``) or
      M_CONNECTION_FAILED; 504 M_CONNECTION_TIMEOUT.
    """
    body = await json_object(request, allow_empty=True)
    transaction_id = get_str(body, "transaction_id")
    duration = await services(request).appservices.ping(
        requester(request), request.match_info["appserviceId"], transaction_id
    )
    return json_response({"duration_ms": duration})


async def put_network_visibility(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/directory/list/appservice/{networkId}/{roomId}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3directorylistappservicenetworkidroomid

    - Appservices only (403 M_FORBIDDEN for other tokens).
    - Publishes (``public``) or unpublishes (``private``) the room in the
      server's directory; the network id is accepted but rooms are not yet
      listed per network.
    - 400 M_INVALID_PARAM for another visibility; 404 M_NOT_FOUND for an
      unknown room.
    """
    who = requester(request)
    if who.appservice_id is None:
        raise Forbidden("Only application services may use this endpoint")
    room_id = room_id_param(request)
    body = await json_object(request)
    visibility = get_str(body, "visibility", required=True)
    if visibility not in ("public", "private"):
        raise InvalidParam("'visibility' must be 'public' or 'private'")
    svc = services(request)
    if await svc.rooms.cache.room(room_id) is None:
        raise NotFound("Unknown room")
    await svc.directory.publish(room_id, visibility == "public")
    return json_response({})


routes = [
    Route("POST", CLIENT_V1 + "/appservice/{appserviceId}/ping", post_ping, Auth.USER),
    Route(
        "PUT",
        CLIENT_V3 + "/directory/list/appservice/{networkId}/{roomId}",
        put_network_visibility,
        Auth.USER,
    ),
]
