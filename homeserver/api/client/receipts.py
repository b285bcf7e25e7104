"""Receipts and read markers."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import get_str, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import InvalidIdentifier, InvalidParam
from homeserver.core.ids import RoomID, parse_room_id


def _room_id(request: web.Request) -> RoomID:
    try:
        return parse_room_id(request.match_info["roomId"])
    except (InvalidIdentifier, UnicodeError) as e:
        raise InvalidParam("Invalid room ID") from e


async def post_receipt(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidreceiptreceipttypeeventid

    - ``m.read``, ``m.read.private`` (with optional ``thread_id``) or
      ``m.fully_read``; 400 M_INVALID_PARAM for other types.
    - 403 when not joined; 404 for an event not in the room.
    """
    room_id = _room_id(request)
    body = await json_object(request, allow_empty=True)
    thread_id = get_str(body, "thread_id")
    await services(request).sync.receipts.send_receipt(
        requester(request).user_id,
        room_id,
        request.match_info["receiptType"],
        request.match_info["eventId"],
        thread_id,
    )
    return json_response({})


async def post_read_markers(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/read_markers

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidread_markers

    - Any of ``m.fully_read``, ``m.read``, ``m.read.private``.
    """
    room_id = _room_id(request)
    body = await json_object(request, allow_empty=True)
    await services(request).sync.receipts.set_read_markers(
        requester(request).user_id,
        room_id,
        fully_read=get_str(body, "m.fully_read"),
        read=get_str(body, "m.read"),
        read_private=get_str(body, "m.read.private"),
    )
    return json_response({})


routes = [
    Route(
        "POST",
        CLIENT_V3 + "/rooms/{roomId}/receipt/{receiptType}/{eventId}",
        post_receipt,
        Auth.USER_OR_GUEST,
    ),
    Route(
        "POST", CLIENT_V3 + "/rooms/{roomId}/read_markers", post_read_markers, Auth.USER_OR_GUEST
    ),
]
