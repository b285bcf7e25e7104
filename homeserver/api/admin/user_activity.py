"""Admin API: the v3 account list, per-user activity counts and user reports.

https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html
"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.admin.params import ADMIN_V1, direction, page, path_user_id
from homeserver.api.http import json_object, json_response, query_bool, query_int, services
from homeserver.api.routing import Auth, Handler, Route
from homeserver.core.errors import BadJson, InvalidParam, NotFound
from homeserver.services.admin.activity import UserActivity
from homeserver.services.admin.users import USER_ORDER, UserFilter


def _optional_bool(request: web.Request, name: str) -> bool | None:
    return query_bool(request, name) if name in request.query else None


async def list_users_v3(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v3/users

    - As v2, except ``deactivated``: absent lists every account, ``true``
      only deactivated ones, ``false`` only active ones.
    """
    offset, limit = page(request)
    guests = _optional_bool(request, "guests")
    filters = UserFilter(
        user_id=request.query.get("user_id") or None,
        name=request.query.get("name") or None,
        guests=False if guests is False else None,
        deactivated=_optional_bool(request, "deactivated"),
        admins=_optional_bool(request, "admins"),
        locked=None if query_bool(request, "locked") else False,
    )
    order_by = request.query.get("order_by", "name")
    if order_by not in USER_ORDER:
        raise InvalidParam("Unknown value for order_by")
    body = await services(request).admin.users.list_users(
        filters, offset=offset, limit=limit, order_by=order_by, descending=direction(request)
    )
    return json_response(body)


def _activity(request: web.Request) -> UserActivity:
    found = services(request).admin.activity
    assert found is not None
    return found


async def sent_invite_count(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/users/{userId}/sent_invite_count?from_ts=

    - Invites the user sent since ``from_ts`` (ms; default: ever).
    """
    user_id = path_user_id(request)
    from_ts = query_int(request, "from_ts", 0, minimum=0)
    assert from_ts is not None
    count = await _activity(request).sent_invite_count(user_id, from_ts)
    return json_response({"invite_count": count})


async def cumulative_joined_room_count(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/users/{userId}/cumulative_joined_room_count

    - Rooms the user ever joined, including ones since left.
    """
    user_id = path_user_id(request)
    count = await _activity(request).cumulative_joined_room_count(user_id)
    return json_response({"cumulative_joined_room_count": count})


async def user_reports(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/user_reports

    - Newest first; ``from``/``limit`` paging.
    """
    offset, limit = page(request)
    # Reports are few; the newest 100 000 are plenty to page through.
    found = await services(request).user_directory.user_reports(100_000)
    chunk = found[offset : offset + limit]
    body: dict[str, object] = {
        "user_reports": [
            {
                "id": r.id,
                "received_ts": r.received_ts,
                "target_user_id": r.target_user_id,
                "user_id": r.user_id,
                "reason": r.reason,
            }
            for r in chunk
        ],
        "total": len(found),
    }
    if len(found) > offset + limit:
        body["next_token"] = offset + limit
    return json_response(body)


async def redact_user(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/user/{userId}/redact

    - ``rooms``: room ids (required); ``reason``; ``limit`` (events per room,
      default 1000). Answers ``redact_id`` for ``redact_status``.
    """
    user_id = path_user_id(request)
    body = await json_object(request)
    rooms = body.get("rooms")
    if not isinstance(rooms, list) or not all(isinstance(r, str) for r in rooms):
        raise BadJson("'rooms' must be a list of room ids")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise BadJson("'reason' must be a string")
    limit = body.get("limit", 1000)
    if type(limit) is not int or not 0 < limit <= 100_000:
        raise InvalidParam("'limit' must be a positive integer")
    redaction = services(request).admin.redaction
    assert redaction is not None
    task_id = await redaction.redact(user_id, rooms, reason, limit)
    return json_response({"redact_id": task_id})


async def redact_status(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/user/redact_status/{redactId}"""
    redaction = services(request).admin.redaction
    assert redaction is not None
    return json_response(await redaction.status(request.match_info["redactId"]))


async def federation_destination(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/federation/destinations/{destination}

    - No federation sender yet: every destination is unknown.
    """
    raise NotFound("Unknown destination")


def _admin(method: str, path: str, handler: Handler) -> Route:
    return Route(method, path, handler, Auth.ADMIN, resource="admin")


routes = [
    _admin("GET", "/_synapse/admin/v3/users", list_users_v3),
    _admin("GET", f"{ADMIN_V1}/users/{{userId}}/sent_invite_count", sent_invite_count),
    _admin(
        "GET",
        f"{ADMIN_V1}/users/{{userId}}/cumulative_joined_room_count",
        cumulative_joined_room_count,
    ),
    _admin("GET", f"{ADMIN_V1}/user_reports", user_reports),
    _admin("POST", f"{ADMIN_V1}/user/{{userId}}/redact", redact_user),
    _admin("GET", f"{ADMIN_V1}/user/redact_status/{{redactId}}", redact_status),
    _admin("GET", f"{ADMIN_V1}/federation/destinations/{{destination}}", federation_destination),
]
