"""Admin API: the local media repository, plus a few cheap account and
federation reads.

https://element-hq.github.io/synapse/latest/admin_api/media_admin_api.html
"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.admin.params import (
    ADMIN_V1,
    direction,
    page,
    path_room_id,
    path_user_id,
)
from homeserver.api.http import json_response, query_bool, query_int, services
from homeserver.api.routing import Auth, Handler, Route
from homeserver.core.errors import InvalidParam, MissingParam, Unrecognized
from homeserver.services.admin.media import MediaAdmin


def _media(request: web.Request) -> MediaAdmin:
    found = services(request).admin.media
    if found is None:
        raise Unrecognized("The media repository is not enabled")
    return found


def _media_id(request: web.Request) -> str:
    media_id = request.match_info["mediaId"]
    if not media_id or len(media_id) > 255:
        raise InvalidParam("Invalid media id")
    return media_id


async def media_info(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/media/{serverName}/{mediaId}"""
    info = await _media(request).info(request.match_info["serverName"], _media_id(request))
    return json_response(info)


def _quarantine(value: bool) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        await _media(request).quarantine_one(
            request.match_info["serverName"], _media_id(request), value
        )
        return json_response({})

    verb = "quarantine" if value else "unquarantine"
    handler.__doc__ = f"POST /_synapse/admin/v1/media/{verb}/{{serverName}}/{{mediaId}}"
    return handler


def _protect(value: bool) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        await _media(request).protect(_media_id(request), value)
        return json_response({})

    verb = "protect" if value else "unprotect"
    handler.__doc__ = f"POST /_synapse/admin/v1/media/{verb}/{{mediaId}}"
    return handler


async def quarantine_room(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/room/{roomId}/media/quarantine

    - Quarantines the local media the room's events refer to.
    """
    count = await _media(request).quarantine_room(path_room_id(request))
    return json_response({"num_quarantined": count})


async def quarantine_user(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/user/{userId}/media/quarantine"""
    count = await _media(request).quarantine_user(path_user_id(request))
    return json_response({"num_quarantined": count})


async def room_media(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/room/{roomId}/media

    - The mxc URLs the room's events mention, local and remote.
    """
    local, remote = await _media(request).room_media(path_room_id(request))
    return json_response({"local": local, "remote": remote})


async def delete_media(request: web.Request) -> web.Response:
    """DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}

    - Deletes the row, the file and its thumbnails.
    """
    deleted = await _media(request).delete_one(request.match_info["serverName"], _media_id(request))
    return json_response({"deleted_media": deleted, "total": len(deleted)})


async def delete_older(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/media/delete?before_ts=&size_gt=&keep_profiles=

    - Deletes unprotected local media older than ``before_ts`` (ms) and
      larger than ``size_gt`` bytes; ``keep_profiles`` (default true) keeps
      avatars in use.
    """
    if "before_ts" not in request.query:
        raise MissingParam("Missing 'before_ts'")
    before_ts = query_int(request, "before_ts", 0, minimum=0)
    size_gt = query_int(request, "size_gt", 0, minimum=0)
    assert before_ts is not None
    assert size_gt is not None
    keep = query_bool(request, "keep_profiles") if "keep_profiles" in request.query else True
    server_name = request.match_info.get("serverName")
    if server_name is not None and server_name != services(request).config.server_name:
        raise InvalidParam("Only local media can be deleted")
    deleted = await _media(request).delete_older(before_ts, size_gt, keep)
    return json_response({"deleted_media": deleted, "total": len(deleted)})


async def list_user_media(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/users/{userId}/media

    - ``from``/``limit`` paging, ``order_by`` and ``dir``.
    """
    offset, limit = page(request)
    body = await _media(request).user_media(
        path_user_id(request),
        offset=offset,
        limit=limit,
        order_by=request.query.get("order_by", "created_ts"),
        descending=direction(request),
    )
    return json_response(body)


async def delete_user_media(request: web.Request) -> web.Response:
    """DELETE /_synapse/admin/v1/users/{userId}/media"""
    deleted = await _media(request).delete_user_media(path_user_id(request))
    return json_response({"deleted_media": deleted, "total": len(deleted)})


async def media_statistics(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/statistics/users/media

    - Per user: media count and bytes; ``from``/``limit``, ``order_by``, ``dir``.
    """
    offset, limit = page(request)
    body = await _media(request).statistics(
        offset=offset,
        limit=limit,
        order_by=request.query.get("order_by", "user_id"),
        descending=direction(request),
    )
    return json_response(body)


async def federation_destinations(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/federation/destinations

    - No federation sender yet: there are no destinations.
    """
    page(request)
    return json_response({"destinations": [], "total": 0})


def _admin(method: str, path: str, handler: Handler) -> Route:
    return Route(method, path, handler, Auth.ADMIN, resource="admin")


M = f"{ADMIN_V1}/media"
routes = [
    _admin("GET", f"{M}/{{serverName}}/{{mediaId}}", media_info),
    _admin("DELETE", f"{M}/{{serverName}}/{{mediaId}}", delete_media),
    _admin("POST", f"{M}/quarantine/{{serverName}}/{{mediaId}}", _quarantine(True)),
    _admin("POST", f"{M}/unquarantine/{{serverName}}/{{mediaId}}", _quarantine(False)),
    _admin("POST", f"{M}/protect/{{mediaId}}", _protect(True)),
    _admin("POST", f"{M}/unprotect/{{mediaId}}", _protect(False)),
    _admin("POST", f"{M}/delete", delete_older),
    _admin("POST", f"{M}/{{serverName}}/delete", delete_older),
    _admin("POST", f"{ADMIN_V1}/room/{{roomId}}/media/quarantine", quarantine_room),
    _admin("GET", f"{ADMIN_V1}/room/{{roomId}}/media", room_media),
    _admin("POST", f"{ADMIN_V1}/user/{{userId}}/media/quarantine", quarantine_user),
    _admin("GET", f"{ADMIN_V1}/users/{{userId}}/media", list_user_media),
    _admin("DELETE", f"{ADMIN_V1}/users/{{userId}}/media", delete_user_media),
    _admin("GET", f"{ADMIN_V1}/statistics/users/media", media_statistics),
    _admin("GET", f"{ADMIN_V1}/federation/destinations", federation_destinations),
]
