"""Client Config: global and per-room account data."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import InvalidIdentifier, InvalidParam
from homeserver.core.ids import RoomID, parse_room_id


def _room_id(request: web.Request) -> RoomID:
    try:
        return parse_room_id(request.match_info["roomId"])
    except (InvalidIdentifier, UnicodeError) as e:
        raise InvalidParam("Invalid room ID") from e


async def get_account_data(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/user/{userId}/account_data/{type}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3useruseridaccount_datatype

    - Only your own (403 M_FORBIDDEN); 404 M_NOT_FOUND when never set.
    """
    content = await services(request).account_data.get(
        requester(request), request.match_info["userId"], None, request.match_info["type"]
    )
    return json_response(content)


async def put_account_data(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/user/{userId}/account_data/{type}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3useruseridaccount_datatype

    - The body (a JSON object) replaces the content.
    - Only your own (403 M_FORBIDDEN); m.fully_read and m.push_rules are
      server-managed (405 M_BAD_JSON).
    """
    body = await json_object(request)
    await services(request).account_data.put(
        requester(request), request.match_info["userId"], None, request.match_info["type"], body
    )
    return json_response({})


async def get_room_account_data(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3useruseridroomsroomidaccount_datatype

    - Only your own (403 M_FORBIDDEN); 400 M_INVALID_PARAM for a malformed
      room id; 404 M_NOT_FOUND when never set.
    """
    room_id = _room_id(request)
    content = await services(request).account_data.get(
        requester(request), request.match_info["userId"], room_id, request.match_info["type"]
    )
    return json_response(content)


async def put_room_account_data(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3useruseridroomsroomidaccount_datatype

    - The body (a JSON object) replaces the content.
    - Only your own (403 M_FORBIDDEN); 400 M_INVALID_PARAM for a malformed
      room id; m.fully_read and m.push_rules are server-managed (405 M_BAD_JSON).
    """
    room_id = _room_id(request)
    body = await json_object(request)
    await services(request).account_data.put(
        requester(request), request.match_info["userId"], room_id, request.match_info["type"], body
    )
    return json_response({})


_USER = CLIENT_V3 + "/user/{userId}"

routes = [
    Route("GET", _USER + "/account_data/{type}", get_account_data, Auth.USER_OR_GUEST),
    Route("PUT", _USER + "/account_data/{type}", put_account_data, Auth.USER_OR_GUEST),
    Route(
        "GET",
        _USER + "/rooms/{roomId}/account_data/{type}",
        get_room_account_data,
        Auth.USER_OR_GUEST,
    ),
    Route(
        "PUT",
        _USER + "/rooms/{roomId}/account_data/{type}",
        put_room_account_data,
        Auth.USER_OR_GUEST,
    ),
]
