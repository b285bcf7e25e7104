"""Reading a room: GET /event, /members, /joined_members, /messages, /context."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rooms_send import event_id_param, room_id_param
from homeserver.api.http import json_response, query_int, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import InvalidParam
from homeserver.services.rooms.filters import RoomEventFilter, is_filter_id

_MEMBERSHIPS = ("join", "invite", "knock", "leave", "ban")


async def get_event(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomideventeventid

    - 404 M_NOT_FOUND when unknown or not visible to the user (history visibility).
    """
    event = await services(request).rooms.read.get_event(
        requester(request), room_id_param(request), event_id_param(request)
    )
    return json_response(event)


async def event_filter_param(request: web.Request) -> RoomEventFilter:
    """The ``filter`` parameter: inline JSON, or the id of a stored filter
    (its ``room.timeline`` part; 400 M_BAD_JSON for an unknown id)."""
    text = request.query.get("filter")
    if text is not None and is_filter_id(text):
        stored = await services(request).sync.filters.resolve(requester(request).user_id, text)
        return RoomEventFilter.from_event_filter(stored.room.timeline)
    return RoomEventFilter.parse(text)


def _membership_query(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in _MEMBERSHIPS:
        raise InvalidParam(f"'{name}' must be one of {', '.join(_MEMBERSHIPS)}")
    return value


async def get_members(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/members

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidmembers

    - ``at`` (pagination token), ``membership``, ``not_membership`` filters.
    - 403 M_FORBIDDEN when the user never was a member.
    """
    chunk = await services(request).rooms.read.get_members(
        requester(request),
        room_id_param(request),
        at=request.query.get("at"),
        membership=_membership_query(request, "membership"),
        not_membership=_membership_query(request, "not_membership"),
    )
    return json_response({"chunk": chunk})


async def get_joined_members(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/joined_members

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidjoined_members

    - 403 M_FORBIDDEN unless the user is joined.
    """
    body = await services(request).rooms.read.get_joined_members(
        requester(request), room_id_param(request)
    )
    return json_response(body)


async def get_messages(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/messages

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidmessages

    - ``from``/``to`` tokens, ``dir`` b|f, ``limit`` (default 10), ``filter``
      (types, senders, their negations, lazy_load_members).
    - ``end`` is left out when there is nothing further.
    """
    direction = request.query.get("dir", "b")
    if direction not in ("b", "f"):
        raise InvalidParam("'dir' must be 'b' or 'f'")
    body = await services(request).rooms.read.messages(
        requester(request),
        room_id_param(request),
        from_token=request.query.get("from"),
        to_token=request.query.get("to"),
        backwards=direction == "b",
        limit=query_int(request, "limit", 10, minimum=0) or 10,
        event_filter=await event_filter_param(request),
    )
    return json_response(body)


async def get_context(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidcontexteventid

    - ``limit`` events around the event (half before, half after), the state
      at the event, ``start``/``end`` tokens for /messages.
    - 404 M_NOT_FOUND when unknown or not visible.
    """
    body = await services(request).rooms.read.context(
        requester(request),
        room_id_param(request),
        event_id_param(request),
        limit=query_int(request, "limit", 10, minimum=0) or 0,
        event_filter=await event_filter_param(request),
    )
    return json_response(body)


_ROOM = CLIENT_V3 + "/rooms/{roomId}"

routes = [
    Route("GET", _ROOM + "/event/{eventId}", get_event, Auth.USER_OR_GUEST),
    Route("GET", _ROOM + "/members", get_members, Auth.USER_OR_GUEST),
    Route("GET", _ROOM + "/joined_members", get_joined_members, Auth.USER),
    Route("GET", _ROOM + "/messages", get_messages, Auth.USER_OR_GUEST),
    Route("GET", _ROOM + "/context/{eventId}", get_context, Auth.USER_OR_GUEST),
]
