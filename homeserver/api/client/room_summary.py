"""Room summary (MSC3266): GET /_matrix/client/v1/room_summary/{roomIdOrAlias}."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_response, optional_requester, services
from homeserver.api.routing import CLIENT_V1, Auth, Route
from homeserver.core.errors import InvalidIdentifier, InvalidParam
from homeserver.core.ids import parse_room_id


async def get_room_summary(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/room_summary/{roomIdOrAlias}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1room_summaryroomidoralias

    - The access token is optional; without one only rooms anyone may see
      (public, knockable or world readable) are summarised.
    - ``membership`` is the requester's, when signed in; ``allowed_room_ids``
      for restricted rooms.
    - 404 M_NOT_FOUND for unknown rooms and rooms the requester may not see;
      400 M_INVALID_PARAM for something that is neither a room id nor an alias.
      ``via`` is accepted but unused (remote summaries need federation).
    """
    target = request.match_info["roomIdOrAlias"]
    if not target.startswith("#"):
        try:
            target = parse_room_id(target)
        except InvalidIdentifier as e:
            raise InvalidParam(f"Invalid room id or alias: {e}") from e
    summary = await services(request).room_summary.summary(optional_requester(request), target)
    return json_response(summary)


routes = [
    Route("GET", CLIENT_V1 + "/room_summary/{roomIdOrAlias}", get_room_summary, Auth.OPTIONAL),
    # MSC3266's unstable path, still used by Element.
    Route(
        "GET",
        "/_matrix/client/unstable/im.nheko.summary/rooms/{roomIdOrAlias}/summary",
        get_room_summary,
        Auth.OPTIONAL,
    ),
]
