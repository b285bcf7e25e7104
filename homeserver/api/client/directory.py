"""Room directory: aliases, directory visibility and the public room list."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.client.rooms_send import room_id_param
from homeserver.api.http import (
    get_obj,
    get_str,
    json_object,
    json_response,
    query_int,
    requester,
    services,
)
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import BadJson, InvalidIdentifier, InvalidParam
from homeserver.core.ids import parse_room_id
from homeserver.services.rooms.directory import PublicRoomsQuery


async def put_alias(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/directory/room/{roomAlias}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3directoryroomroomalias

    - The alias must be on this server and the user joined to the room.
    - 400 M_INVALID_PARAM (bad alias or room id), 404 unknown room, 403 not
      joined, 409 M_UNKNOWN when the alias exists.
    """
    body = await json_object(request)
    raw_room_id = get_str(body, "room_id", required=True) or ""
    try:
        room_id = parse_room_id(raw_room_id)
    except InvalidIdentifier as e:
        raise InvalidParam(f"Invalid room id: {e}") from e
    await services(request).directory.create_alias(
        requester(request), request.match_info["roomAlias"], room_id
    )
    return json_response({})


async def get_alias(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/directory/room/{roomAlias}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3directoryroomroomalias

    - ``{room_id, servers}``; 400 M_INVALID_PARAM, 404 M_NOT_FOUND.
    """
    found = await services(request).directory.resolve_alias(request.match_info["roomAlias"])
    return json_response(found)


async def delete_alias(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/directory/room/{roomAlias}

    https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3directoryroomroomalias

    - The alias's creator, a member who may send m.room.canonical_alias, or
      an admin; 403 M_FORBIDDEN otherwise, 404 M_NOT_FOUND when unknown.
    """
    await services(request).directory.delete_alias(
        requester(request), request.match_info["roomAlias"]
    )
    return json_response({})


async def get_room_aliases(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/aliases

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidaliases

    - Members (or anyone when world readable); 403 M_FORBIDDEN otherwise.
    """
    aliases = await services(request).directory.room_aliases(
        requester(request), room_id_param(request)
    )
    return json_response({"aliases": aliases})


async def get_visibility(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/directory/list/room/{roomId}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3directorylistroomroomid

    - ``{visibility}``; 404 M_NOT_FOUND for an unknown room.
    """
    visibility = await services(request).directory.get_visibility(room_id_param(request))
    return json_response({"visibility": visibility})


async def put_visibility(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/directory/list/room/{roomId}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3directorylistroomroomid

    - ``visibility`` defaults to public; needs the power to send
      m.room.canonical_alias (or admin): 403 M_FORBIDDEN; 404 unknown room.
    """
    room_id = room_id_param(request)
    body = await json_object(request, allow_empty=True)
    visibility = get_str(body, "visibility", default="public") or "public"
    await services(request).directory.set_visibility(requester(request), room_id, visibility)
    return json_response({})


async def get_public_rooms(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/publicRooms

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3publicrooms

    - ``limit``, ``since``; ``server`` other than ours: 404 M_NOT_FOUND.
    """
    directory = services(request).directory
    directory.check_server(request.query.get("server"))
    query = PublicRoomsQuery(
        limit=query_int(request, "limit", minimum=0), since=request.query.get("since")
    )
    return json_response(await directory.public_rooms(query))


async def post_public_rooms(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/publicRooms

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3publicrooms

    - ``filter.generic_search_term`` (name, topic, canonical alias),
      ``filter.room_types``, ``limit``, ``since``.
    """
    directory = services(request).directory
    directory.check_server(request.query.get("server"))
    body = await json_object(request, allow_empty=True)
    limit = body.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise BadJson("'limit' must be an integer")
    if limit is not None and limit < 0:
        raise InvalidParam("'limit' must not be negative")
    room_filter = get_obj(body, "filter") or {}
    query = PublicRoomsQuery(
        limit=limit,
        since=get_str(body, "since"),
        search_term=get_str(room_filter, "generic_search_term"),
        room_types=_room_types(room_filter.get("room_types")),
    )
    return json_response(await directory.public_rooms(query))


def _room_types(raw: Any) -> tuple[str | None, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(t is None or isinstance(t, str) for t in raw):
        raise BadJson("'room_types' must be a list of strings or null")
    return tuple(raw)


_ALIAS = CLIENT_V3 + "/directory/room/{roomAlias}"
_LIST = CLIENT_V3 + "/directory/list/room/{roomId}"

routes = [
    Route("PUT", _ALIAS, put_alias, Auth.USER),
    Route("GET", _ALIAS, get_alias, Auth.OPTIONAL),
    Route("DELETE", _ALIAS, delete_alias, Auth.USER),
    Route("GET", CLIENT_V3 + "/rooms/{roomId}/aliases", get_room_aliases, Auth.USER_OR_GUEST),
    Route("GET", _LIST, get_visibility, Auth.OPTIONAL),
    Route("PUT", _LIST, put_visibility, Auth.USER),
    Route("GET", CLIENT_V3 + "/publicRooms", get_public_rooms, Auth.OPTIONAL),
    Route("POST", CLIENT_V3 + "/publicRooms", post_public_rooms, Auth.USER_OR_GUEST),
]
