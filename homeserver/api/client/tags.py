"""Room tagging: GET/PUT/DELETE /user/{userId}/rooms/{roomId}/tags[/{tag}]."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rooms_send import room_id_param
from homeserver.api.http import json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route


async def get_tags(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3useruseridroomsroomidtags

    - ``{"tags": {}}`` when the room has none; only your own (403 M_FORBIDDEN).
    """
    room_id = room_id_param(request)
    tags = await services(request).tags.get_tags(
        requester(request), request.match_info["userId"], room_id
    )
    return json_response({"tags": tags})


async def put_tag(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3useruseridroomsroomidtagstag

    - The body is the tag's content; ``order`` must be a number in 0..1
      (400 M_BAD_JSON). Only your own (403 M_FORBIDDEN).
    - Delivered through /sync as the room's ``m.tag`` account data.
    """
    room_id = room_id_param(request)
    body = await json_object(request)
    await services(request).tags.set_tag(
        requester(request), request.match_info["userId"], room_id, request.match_info["tag"], body
    )
    return json_response({})


async def delete_tag(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}

    https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3useruseridroomsroomidtagstag

    - Removing an absent tag succeeds; only your own (403 M_FORBIDDEN).
    """
    room_id = room_id_param(request)
    await services(request).tags.delete_tag(
        requester(request), request.match_info["userId"], room_id, request.match_info["tag"]
    )
    return json_response({})


_TAGS = CLIENT_V3 + "/user/{userId}/rooms/{roomId}/tags"

routes = [
    Route("GET", _TAGS, get_tags, Auth.USER_OR_GUEST),
    Route("PUT", _TAGS + "/{tag}", put_tag, Auth.USER_OR_GUEST),
    Route("DELETE", _TAGS + "/{tag}", delete_tag, Auth.USER_OR_GUEST),
]
