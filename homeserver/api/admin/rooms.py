"""Admin API: rooms.

https://element-hq.github.io/synapse/latest/admin_api/rooms.html
"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.admin.params import (
    ADMIN_V1,
    ADMIN_V2,
    direction,
    page,
    path_room_id,
    path_room_id_or_alias,
)
from homeserver.api.http import (
    get_bool,
    get_str,
    json_object,
    json_response,
    query_int,
    requester,
    services,
)
from homeserver.api.routing import Auth, Handler, Route
from homeserver.core.errors import InvalidIdentifier, InvalidParam, MissingParam
from homeserver.core.ids import parse_user_id
from homeserver.services.admin.rooms import ROOM_ORDER


async def list_rooms(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/rooms

    - ``from``/``limit`` page by offset (``next_batch``/``prev_batch``).
    - ``search_term`` matches the name, canonical alias or room id.
    - ``order_by`` (name, joined_members, ..., size) and ``dir``.
    """
    offset, limit = page(request)
    order_by = request.query.get("order_by", "name")
    if order_by not in ROOM_ORDER and order_by != "size":
        raise InvalidParam("Unknown value for order_by")
    body = await services(request).admin.rooms.list_rooms(
        offset=offset,
        limit=limit,
        order_by=order_by,
        descending=direction(request),
        search_term=request.query.get("search_term") or None,
    )
    return json_response(body)


async def room_details(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/rooms/{roomId}"""
    return json_response(await services(request).admin.rooms.details(path_room_id(request)))


async def room_members(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/rooms/{roomId}/members"""
    return json_response(await services(request).admin.rooms.members(path_room_id(request)))


async def room_state(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/rooms/{roomId}/state"""
    state = await services(request).admin.rooms.state(path_room_id(request))
    return json_response({"state": state})


async def room_messages(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/rooms/{roomId}/messages

    - Any room's history, whatever the admin's membership; ``from``,
      ``dir`` and ``limit`` as in the client API.
    """
    limit = query_int(request, "limit", 10, minimum=1, maximum=1000)
    assert limit is not None
    body = await services(request).admin.rooms.messages(
        path_room_id(request),
        from_token=request.query.get("from"),
        backwards=direction(request),
        limit=limit,
    )
    return json_response(body)


def _optional_user(body: dict[str, object], key: str) -> str | None:
    value = get_str(body, key)
    if value is None:
        return None
    try:
        return parse_user_id(value, strict=False)
    except InvalidIdentifier as e:
        raise InvalidParam(f"'{key}' is not a user id") from e


async def _delete(request: web.Request) -> dict[str, object]:
    room_id = path_room_id(request)
    body = await json_object(request, allow_empty=True)
    new_room_user_id = _optional_user(body, "new_room_user_id")
    svc = services(request)
    if new_room_user_id is not None and (
        new_room_user_id.partition(":")[2] != svc.config.server_name
    ):
        raise InvalidParam("User must be our own")
    return await svc.admin.rooms.delete_room(
        requester(request),
        room_id,
        new_room_user_id=new_room_user_id,
        room_name=get_str(body, "room_name"),
        message=get_str(body, "message"),
        block=get_bool(body, "block"),
        purge=get_bool(body, "purge", True),
        force_purge=get_bool(body, "force_purge"),
    )


async def delete_room_v1(request: web.Request) -> web.Response:
    """DELETE /_synapse/admin/v1/rooms/{roomId}

    - Removes local members (optionally into a new room made by
      ``new_room_user_id`` with ``room_name`` and ``message``), ``block``s
      the room and, with ``purge`` (default true), deletes its rows.
    """
    result = await _delete(request)
    result.pop("delete_id", None)
    return json_response(result)


async def delete_room_v2(request: web.Request) -> web.Response:
    """DELETE /_synapse/admin/v2/rooms/{roomId}

    - As v1; answers ``{"delete_id"}`` for the status endpoints (the work
      is done by the time the answer is sent).
    """
    result = await _delete(request)
    return json_response({"delete_id": result["delete_id"]})


async def delete_status_by_room(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v2/rooms/{roomId}/delete_status"""
    return json_response(
        await services(request).admin.rooms.delete_status(
            room_id=path_room_id(request), delete_id=None
        )
    )


async def delete_status_by_id(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v2/rooms/delete_status/{deleteId}"""
    return json_response(
        await services(request).admin.rooms.delete_status(
            room_id=None, delete_id=request.match_info["deleteId"]
        )
    )


async def get_block(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/rooms/{roomId}/block"""
    return json_response(await services(request).admin.rooms.block_status(path_room_id(request)))


async def put_block(request: web.Request) -> web.Response:
    """PUT /_synapse/admin/v1/rooms/{roomId}/block

    - ``{"block": bool}`` blocks or unblocks the room.
    """
    room_id = path_room_id(request)
    body = await json_object(request)
    if "block" not in body:
        raise MissingParam("Missing 'block'")
    block = get_bool(body, "block")
    await services(request).admin.rooms.set_block(requester(request), room_id, block)
    return json_response({"block": block})


async def make_room_admin(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/rooms/{roomId}/make_room_admin

    - ``user_id`` (default: the requesting admin) gets the room's highest
      power level.
    """
    room_id = await path_room_id_or_alias(request)
    body = await json_object(request, allow_empty=True)
    user_id = _optional_user(body, "user_id") or requester(request).user_id
    await services(request).admin.rooms.make_room_admin(room_id, user_id)
    return json_response({})


async def join_room(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/join/{roomId}

    - Joins local user ``user_id`` to a room (by id or alias) it may join.
    """
    body = await json_object(request)
    user_id = _optional_user(body, "user_id")
    if user_id is None:
        raise MissingParam("Missing 'user_id'")
    room = await path_room_id_or_alias(request)
    room_id = await services(request).admin.rooms.join_user(room, user_id)
    return json_response({"room_id": room_id})


async def delete_forward_extremities(request: web.Request) -> web.Response:
    """DELETE /_synapse/admin/v1/rooms/{roomId}/forward_extremities

    - Keeps only the newest extremity; ``deleted`` counts the others.
    """
    room_id = await path_room_id_or_alias(request)
    deleted = await services(request).admin.rooms.delete_forward_extremities(room_id)
    return json_response({"deleted": deleted})


async def forward_extremities(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/rooms/{roomId}/forward_extremities"""
    room_id = await path_room_id_or_alias(request)
    found = await services(request).admin.rooms.forward_extremities(room_id)
    return json_response({"count": len(found), "results": found})


async def timestamp_to_event(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/rooms/{roomId}/timestamp_to_event?ts=&dir=

    - Nearest event at or after (``dir=f``) or before (``b``) ``ts``.
    """
    ts = query_int(request, "ts", minimum=0)
    if ts is None:
        raise MissingParam("Missing 'ts'")
    body = await services(request).admin.rooms.timestamp_to_event(
        path_room_id(request), ts, forwards=not direction(request)
    )
    return json_response(body)


async def purge_history(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/purge_history/{roomId}[/{eventId}]

    - Deletes the room's non-state events before ``eventId`` or
      ``purge_up_to_event_id`` or ``purge_up_to_ts``; answers ``purge_id``.
    """
    room_id = path_room_id(request)
    body = await json_object(request, allow_empty=True)
    event_id = request.match_info.get("eventId") or get_str(body, "purge_up_to_event_id")
    ts = body.get("purge_up_to_ts")
    if event_id is None and ts is None:
        raise MissingParam("Missing 'purge_up_to_event_id' or 'purge_up_to_ts'")
    if ts is not None and (type(ts) is not int or ts < 0):
        raise InvalidParam("'purge_up_to_ts' must be a timestamp")
    purge_id = await services(request).admin.rooms.purge_history(
        room_id, before_event_id=event_id, before_ts=ts
    )
    return json_response({"purge_id": purge_id})


async def purge_status(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/purge_history_status/{purgeId}"""
    return json_response(
        await services(request).admin.rooms.purge_status(request.match_info["purgeId"])
    )


def _admin(method: str, path: str, handler: Handler) -> Route:
    return Route(method, path, handler, Auth.ADMIN, resource="admin")


R1 = f"{ADMIN_V1}/rooms/{{roomId}}"

routes = [
    _admin("GET", f"{ADMIN_V1}/rooms", list_rooms),
    _admin("GET", R1, room_details),
    _admin("GET", f"{R1}/members", room_members),
    _admin("GET", f"{R1}/state", room_state),
    _admin("GET", f"{R1}/messages", room_messages),
    _admin("DELETE", R1, delete_room_v1),
    _admin("DELETE", f"{ADMIN_V2}/rooms/{{roomId}}", delete_room_v2),
    _admin("GET", f"{ADMIN_V2}/rooms/{{roomId}}/delete_status", delete_status_by_room),
    _admin("GET", f"{ADMIN_V2}/rooms/delete_status/{{deleteId}}", delete_status_by_id),
    _admin("GET", f"{R1}/block", get_block),
    _admin("PUT", f"{R1}/block", put_block),
    _admin("POST", f"{R1}/make_room_admin", make_room_admin),
    _admin("POST", f"{ADMIN_V1}/join/{{roomId}}", join_room),
    _admin("GET", f"{R1}/forward_extremities", forward_extremities),
    _admin("DELETE", f"{R1}/forward_extremities", delete_forward_extremities),
    _admin("GET", f"{R1}/timestamp_to_event", timestamp_to_event),
    _admin("POST", f"{ADMIN_V1}/purge_history/{{roomId}}", purge_history),
    _admin("POST", f"{ADMIN_V1}/purge_history/{{roomId}}/{{eventId}}", purge_history),
    _admin("GET", f"{ADMIN_V1}/purge_history_status/{{purgeId}}", purge_status),
]
