"""POST /createRoom."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.services.rooms.create import CreateRoomRequest


async def post_create_room(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/createRoom

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3createroom

    - Presets private_chat / trusted_private_chat / public_chat, alias, name,
      topic, invites, initial_state, creation_content, power level override.
    - 400 M_ROOM_IN_USE (alias taken), M_UNSUPPORTED_ROOM_VERSION,
      M_INVALID_ROOM_STATE, M_BAD_JSON / M_NOT_JSON.
    """
    body = await json_object(request, allow_empty=True)
    create = CreateRoomRequest.from_json(body)
    room_id, _alias = await services(request).rooms.create.create_room(requester(request), create)
    return json_response({"room_id": room_id})


routes = [
    Route("POST", CLIENT_V3 + "/createRoom", post_create_room, Auth.USER, ratelimit="message"),
]
