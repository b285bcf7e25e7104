"""Server-side key backups (spec: "Server-side key backups")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.http import get_obj, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import BadJson, MissingParam, NotFound
from homeserver.services.e2e.backup import RoomKey

_VERSION = CLIENT_V3 + "/room_keys/version"
_KEYS = CLIENT_V3 + "/room_keys/keys"


def _version_param(request: web.Request, *, required: bool) -> str | None:
    version = request.query.get("version")
    if version is None and required:
        raise MissingParam("Missing 'version'")
    return version


def _rooms_json(keys: list[RoomKey]) -> dict[str, Any]:
    rooms: dict[str, Any] = {}
    for key in keys:
        rooms.setdefault(key.room_id, {"sessions": {}})["sessions"][key.session_id] = key.to_json()
    return {"rooms": rooms}


async def post_version(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/room_keys/version

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3room_keysversion

    - Creates a backup version, which becomes the current one; returns ``version``.
    """
    body = await json_object(request)
    version = await services(request).key_backup.create_version(
        requester(request).user_id, body.get("algorithm"), body.get("auth_data")
    )
    return json_response({"version": version})


async def get_current_version(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/room_keys/version

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3room_keysversion

    - The current backup's algorithm, auth_data, count, etag and version;
      404 M_NOT_FOUND without one.
    """
    info = await services(request).key_backup.get_version(requester(request).user_id, None)
    return json_response(info)


async def get_version(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/room_keys/version/{version}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3room_keysversionversion

    - 404 M_NOT_FOUND for an unknown or deleted version.
    """
    info = await services(request).key_backup.get_version(
        requester(request).user_id, request.match_info["version"]
    )
    return json_response(info)


async def put_version(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/room_keys/version/{version}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3room_keysversionversion

    - Replaces ``auth_data``; another ``algorithm`` or a body ``version``
      unlike the path's is 400 M_INVALID_PARAM; unknown version 404.
    """
    body = await json_object(request)
    await services(request).key_backup.update_version(
        requester(request).user_id,
        request.match_info["version"],
        body.get("algorithm"),
        body.get("auth_data"),
        body.get("version"),
    )
    return json_response({})


async def delete_version(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/room_keys/version/{version}

    https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3room_keysversionversion

    - Deletes the version and its keys; a version deleted before succeeds,
      one that never existed is 404.
    """
    await services(request).key_backup.delete_version(
        requester(request).user_id, request.match_info["version"]
    )
    return json_response({})


async def put_keys(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3room_keyskeys

    - ``?version=`` must be the current version (else 403
      M_WRONG_ROOM_KEYS_VERSION with ``current_version``; no backup: 404).
    - A stored key is replaced only by a better one: verified, then lower
      ``first_message_index``, then lower ``forwarded_count``.
    - Returns the version's ``etag`` and ``count``.
    """
    version = _version_param(request, required=True) or ""
    body = await json_object(request)
    room_id = request.match_info.get("roomId")
    session_id = request.match_info.get("sessionId")
    rooms: dict[str, Any]
    if room_id is None:
        given = get_obj(body, "rooms", required=True) or {}
        rooms = {}
        for rid, room in given.items():
            if not isinstance(room, dict) or not isinstance(room.get("sessions"), dict):
                raise BadJson("Each room must hold a 'sessions' object")
            else:
                rooms[rid] = room["sessions"]
    elif session_id is None:
        rooms = {room_id: get_obj(body, "sessions", required=True) or {}}
    else:
        rooms = {room_id: {session_id: body}}
    result = await services(request).key_backup.put_keys(requester(request).user_id, version, rooms)
    return json_response(result)


async def get_keys(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3room_keyskeys

    - ``?version=`` names the backup (unknown or deleted: 404).
    - A room without keys gives empty ``sessions``; a missing session is 404.
    """
    version = _version_param(request, required=True)
    room_id = request.match_info.get("roomId")
    session_id = request.match_info.get("sessionId")
    keys = await services(request).key_backup.get_keys(
        requester(request).user_id, version, room_id, session_id
    )
    if session_id is not None:
        if not keys:
            raise NotFound("Key not found.")
        return json_response(keys[0].to_json())
    if room_id is not None:
        return json_response({"sessions": {k.session_id: k.to_json() for k in keys}})
    return json_response(_rooms_json(keys))


async def delete_keys(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]

    https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3room_keyskeys

    - Deletes the backup's keys (of one room, or one session); returns
      ``etag`` and ``count``.
    """
    version = _version_param(request, required=True)
    result = await services(request).key_backup.delete_keys(
        requester(request).user_id,
        version,
        request.match_info.get("roomId"),
        request.match_info.get("sessionId"),
    )
    return json_response(result)


_SESSION = _KEYS + "/{roomId}/{sessionId}"

routes = [
    Route("POST", _VERSION, post_version, Auth.USER),
    Route("GET", _VERSION, get_current_version, Auth.USER),
    Route("GET", _VERSION + "/{version}", get_version, Auth.USER),
    Route("PUT", _VERSION + "/{version}", put_version, Auth.USER),
    Route("DELETE", _VERSION + "/{version}", delete_version, Auth.USER),
    Route("PUT", _KEYS, put_keys, Auth.USER),
    Route("GET", _KEYS, get_keys, Auth.USER),
    Route("DELETE", _KEYS, delete_keys, Auth.USER),
    Route("PUT", _KEYS + "/{roomId}", put_keys, Auth.USER),
    Route("GET", _KEYS + "/{roomId}", get_keys, Auth.USER),
    Route("DELETE", _KEYS + "/{roomId}", delete_keys, Auth.USER),
    Route("PUT", _SESSION, put_keys, Auth.USER),
    Route("GET", _SESSION, get_keys, Auth.USER),
    Route("DELETE", _SESSION, delete_keys, Auth.USER),
]
