"""Membership: join, invite, leave, forget, kick, ban, unban, knock, joined_rooms."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.client.rooms_send import room_id_param
from homeserver.api.http import get_str, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route


async def _body(request: web.Request) -> tuple[dict[str, Any], str | None]:
    body = await json_object(request, allow_empty=True)
    return body, get_str(body, "reason")


async def post_join(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/join/{roomIdOrAlias}

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3joinroomidoralias

    - Local rooms by id or local alias; rooms elsewhere answer 404 (no
      federation yet). Restricted rooms (v8+) through an allowed room.
    - Other keys of the body go into the member event's content, as Synapse
      does (a ``displayname``/``avatar_url`` there is a per-room profile).
    - 403 M_FORBIDDEN when the join rules refuse.
    """
    body, reason = await _body(request)
    room_id = await services(request).rooms.membership.join(
        requester(request), request.match_info["roomIdOrAlias"], reason, body
    )
    return json_response({"room_id": room_id})


async def post_room_join(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/join

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidjoin

    - As /join/{roomIdOrAlias}, with a room id only.
    """
    room_id = room_id_param(request)
    body, reason = await _body(request)
    await services(request).rooms.membership.join(requester(request), room_id, reason, body)
    return json_response({"room_id": room_id})


async def post_invite(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/invite

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidinvite

    - ``user_id`` and optional ``reason``; 403 when not allowed (not in the
      room, no invite power, invitee banned or joined).
    """
    room_id = room_id_param(request)
    body, reason = await _body(request)
    await services(request).rooms.membership.invite(
        requester(request), room_id, get_str(body, "user_id", required=True), reason
    )
    return json_response({})


async def post_leave(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/leave

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidleave

    - Leaves, rejects an invite or rescinds a knock; leaving again is a no-op.
    """
    room_id = room_id_param(request)
    _, reason = await _body(request)
    await services(request).rooms.membership.leave(requester(request), room_id, reason)
    return json_response({})


async def post_forget(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/forget

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidforget

    - 400 M_UNKNOWN while still in the room.
    """
    room_id = room_id_param(request)
    await services(request).rooms.membership.forget(requester(request), room_id)
    return json_response({})


async def post_kick(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/kick

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidkick

    - 403 when the kicker lacks power or the target is not in the room.
    """
    room_id = room_id_param(request)
    body, reason = await _body(request)
    await services(request).rooms.membership.kick(
        requester(request), room_id, get_str(body, "user_id", required=True), reason
    )
    return json_response({})


async def post_ban(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/ban

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidban
    """
    room_id = room_id_param(request)
    body, reason = await _body(request)
    await services(request).rooms.membership.ban(
        requester(request), room_id, get_str(body, "user_id", required=True), reason
    )
    return json_response({})


async def post_unban(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/unban

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidunban

    - 403 when the target is not banned or the sender lacks power.
    """
    room_id = room_id_param(request)
    body, reason = await _body(request)
    await services(request).rooms.membership.unban(
        requester(request), room_id, get_str(body, "user_id", required=True), reason
    )
    return json_response({})


async def post_knock(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/knock/{roomIdOrAlias}

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3knockroomidoralias

    - Room versions 7+ with a knock (or knock_restricted) join rule.
    """
    _, reason = await _body(request)
    room_id = await services(request).rooms.membership.knock(
        requester(request), request.match_info["roomIdOrAlias"], reason
    )
    return json_response({"room_id": room_id})


async def get_joined_rooms(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/joined_rooms

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3joined_rooms
    """
    rooms = await services(request).rooms.membership.joined_rooms(requester(request))
    return json_response({"joined_rooms": rooms})


_ROOM = CLIENT_V3 + "/rooms/{roomId}"
_M = "message"

routes = [
    Route("POST", CLIENT_V3 + "/join/{roomIdOrAlias}", post_join, Auth.USER_OR_GUEST, _M),
    Route("POST", _ROOM + "/join", post_room_join, Auth.USER_OR_GUEST, _M),
    Route("POST", _ROOM + "/invite", post_invite, Auth.USER, _M),
    Route("POST", _ROOM + "/leave", post_leave, Auth.USER_OR_GUEST, _M),
    Route("POST", _ROOM + "/forget", post_forget, Auth.USER),
    Route("POST", _ROOM + "/kick", post_kick, Auth.USER, _M),
    Route("POST", _ROOM + "/ban", post_ban, Auth.USER, _M),
    Route("POST", _ROOM + "/unban", post_unban, Auth.USER, _M),
    Route("POST", CLIENT_V3 + "/knock/{roomIdOrAlias}", post_knock, Auth.USER, _M),
    Route("GET", CLIENT_V3 + "/joined_rooms", get_joined_rooms, Auth.USER_OR_GUEST),
]
