"""Admin API: local accounts.

https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html
"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.admin.params import ADMIN_V1, ADMIN_V2, direction, page, path_user_id
from homeserver.api.http import (
    get_bool,
    get_str,
    json_object,
    json_response,
    query_bool,
    requester,
    services,
)
from homeserver.api.routing import CLIENT_V1, CLIENT_V3, Auth, Handler, Route
from homeserver.core.errors import BadJson, Forbidden, InvalidParam, MissingParam
from homeserver.services.admin.users import USER_ORDER, UserFilter


def _optional_query_bool(request: web.Request, name: str) -> bool | None:
    return query_bool(request, name) if name in request.query else None


async def list_users(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v2/users

    - ``from``/``limit`` page by offset; ``next_token`` is the next ``from``.
    - ``user_id``/``name`` filter by substring; ``guests=false`` hides guests,
      ``deactivated=true`` includes deactivated accounts, ``locked=true``
      includes locked ones, ``admins`` keeps only (non-)admins.
    - ``order_by`` (name, creation_ts, displayname, admin, ...) and ``dir``.
    """
    offset, limit = page(request)
    guests = _optional_query_bool(request, "guests")
    filters = UserFilter(
        user_id=request.query.get("user_id") or None,
        name=request.query.get("name") or None,
        guests=False if guests is False else None,
        deactivated=None if query_bool(request, "deactivated") else False,
        admins=_optional_query_bool(request, "admins"),
        locked=None if query_bool(request, "locked") else False,
    )
    order_by = request.query.get("order_by", "name")
    if order_by not in USER_ORDER:
        raise InvalidParam("Unknown value for order_by")
    body = await services(request).admin.users.list_users(
        filters,
        offset=offset,
        limit=limit,
        order_by=order_by,
        descending=direction(request),
    )
    return json_response(body)


async def get_user(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v2/users/{userId}

    - The account; 404 M_NOT_FOUND when unknown, 400 for remote users.
    """
    user_id = path_user_id(request)
    return json_response(await services(request).admin.users.get_user(user_id))


async def put_user(request: web.Request) -> web.Response:
    """PUT /_synapse/admin/v2/users/{userId}

    - Creates the account (201) or changes it (200): ``password``,
      ``logout_devices``, ``displayname``, ``avatar_url``, ``admin``,
      ``deactivated``, ``locked``, ``user_type``.
    - Re-activating needs a password.
    """
    user_id = path_user_id(request)
    body = await json_object(request)
    svc = services(request)
    created = await svc.admin.users.upsert_user(requester(request), user_id, body)
    return json_response(await svc.admin.users.get_user(user_id), status=201 if created else 200)


async def deactivate(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/deactivate/{userId}

    - ``erase`` also marks the account erased.
    """
    user_id = path_user_id(request)
    body = await json_object(request, allow_empty=True)
    erase = get_bool(body, "erase")
    await services(request).admin.users.deactivate(user_id, erase=erase)
    return json_response({"id_server_unbind_result": "success"})


async def reset_password(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/reset_password/{userId}

    - ``new_password`` (checked against the policy); ``logout_devices``
      (default true) logs every device out.
    """
    user_id = path_user_id(request)
    body = await json_object(request)
    password = get_str(body, "new_password", required=True)
    assert password is not None
    logout = get_bool(body, "logout_devices", True)
    await services(request).admin.users.reset_password(user_id, password, logout_devices=logout)
    return json_response({})


async def whois(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/whois/{userId}

    - Devices, sessions and last connections of the user.
    """
    user_id = path_user_id(request)
    return json_response(await services(request).admin.users.whois(user_id))


async def client_whois(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/admin/whois/{userId}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3adminwhoisuserid

    - Server admins may look anyone up; other users only themselves.
    """
    user_id = path_user_id(request)
    who = requester(request)
    if not who.is_admin and who.user_id != user_id:
        raise Forbidden("You are not a server admin")
    return json_response(await services(request).admin.users.whois(user_id))


async def joined_rooms(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/users/{userId}/joined_rooms"""
    user_id = path_user_id(request)
    rooms = await services(request).admin.users.joined_rooms(user_id)
    return json_response({"joined_rooms": rooms, "total": len(rooms)})


async def get_admin(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/users/{userId}/admin"""
    user_id = path_user_id(request)
    return json_response({"admin": await services(request).admin.users.is_admin(user_id)})


async def put_admin(request: web.Request) -> web.Response:
    """PUT /_synapse/admin/v1/users/{userId}/admin

    - ``{"admin": bool}``; an admin cannot demote themselves.
    """
    user_id = path_user_id(request)
    body = await json_object(request)
    if "admin" not in body:
        raise MissingParam("Missing 'admin'")
    value = get_bool(body, "admin")
    if not value and user_id == requester(request).user_id:
        raise InvalidParam("You may not demote yourself.")
    await services(request).admin.users.set_admin(user_id, value)
    return json_response({})


async def login_as(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/users/{userId}/login

    - An access token for the user (no new device); ``valid_until_ms``
      bounds its life.
    """
    user_id = path_user_id(request)
    body = await json_object(request, allow_empty=True)
    valid_until = body.get("valid_until_ms")
    if valid_until is not None and (type(valid_until) is not int or valid_until < 0):
        raise InvalidParam("'valid_until_ms' must be a positive integer")
    if user_id == requester(request).user_id:
        raise InvalidParam("Cannot use admin API to login as self")
    token = await services(request).admin.users.login_as(requester(request), user_id, valid_until)
    return json_response({"access_token": token})


async def shadow_ban(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/users/{userId}/shadow_ban"""
    await services(request).admin.users.set_flag(path_user_id(request), "shadow_banned", True)
    return json_response({})


async def unshadow_ban(request: web.Request) -> web.Response:
    """DELETE /_synapse/admin/v1/users/{userId}/shadow_ban"""
    await services(request).admin.users.set_flag(path_user_id(request), "shadow_banned", False)
    return json_response({})


async def get_ratelimit(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/users/{userId}/override_ratelimit

    - ``{}`` when the user has no override.
    """
    found = await services(request).admin.users.get_ratelimit(path_user_id(request))
    if found is None:
        return json_response({})
    return json_response({"messages_per_second": found[0], "burst_count": found[1]})


async def set_ratelimit(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/users/{userId}/override_ratelimit

    - ``messages_per_second`` and ``burst_count`` (non-negative integers,
      default 0: no limit).
    """
    user_id = path_user_id(request)
    body = await json_object(request, allow_empty=True)
    values = []
    for key in ("messages_per_second", "burst_count"):
        value = body.get(key, 0)
        if type(value) is not int or value < 0:
            raise InvalidParam(f"'{key}' must be a positive integer")
        values.append(value)
    await services(request).admin.users.set_ratelimit(user_id, values[0], values[1])
    return json_response({"messages_per_second": values[0], "burst_count": values[1]})


async def delete_ratelimit(request: web.Request) -> web.Response:
    """DELETE /_synapse/admin/v1/users/{userId}/override_ratelimit"""
    await services(request).admin.users.delete_ratelimit(path_user_id(request))
    return json_response({})


async def account_data(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/users/{userId}/accountdata"""
    data = await services(request).admin.users.account_data(path_user_id(request))
    return json_response({"account_data": data})


async def pushers(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/users/{userId}/pushers"""
    found = await services(request).admin.users.pushers(path_user_id(request))
    return json_response({"pushers": found, "total": len(found)})


async def list_devices(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v2/users/{userId}/devices"""
    found = await services(request).admin.users.devices(path_user_id(request))
    return json_response({"devices": found, "total": len(found)})


async def create_device(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v2/users/{userId}/devices

    - ``device_id``: the device to create.
    """
    user_id = path_user_id(request)
    body = await json_object(request)
    device_id = get_str(body, "device_id", required=True)
    assert device_id is not None
    if not device_id or len(device_id) > 255:
        raise InvalidParam("Invalid device id")
    await services(request).admin.users.create_device(user_id, device_id)
    return json_response({}, status=201)


async def get_device(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v2/users/{userId}/devices/{deviceId}"""
    user_id = path_user_id(request)
    found = await services(request).admin.users.device(user_id, request.match_info["deviceId"])
    return json_response(found)


async def put_device(request: web.Request) -> web.Response:
    """PUT /_synapse/admin/v2/users/{userId}/devices/{deviceId}

    - ``display_name`` renames the device.
    """
    user_id = path_user_id(request)
    body = await json_object(request, allow_empty=True)
    name = get_str(body, "display_name")
    await services(request).admin.users.set_device_name(
        user_id, request.match_info["deviceId"], name
    )
    return json_response({})


async def delete_device(request: web.Request) -> web.Response:
    """DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}"""
    user_id = path_user_id(request)
    await services(request).admin.users.delete_devices(user_id, [request.match_info["deviceId"]])
    return json_response({})


async def delete_devices(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v2/users/{userId}/delete_devices

    - ``devices``: the device ids to delete.
    """
    user_id = path_user_id(request)
    body = await json_object(request)
    devices = body.get("devices")
    if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
        raise BadJson("'devices' must be a list of device ids")
    await services(request).admin.users.delete_devices(user_id, devices)
    return json_response({})


async def suspend_v1(request: web.Request) -> web.Response:
    """PUT /_synapse/admin/v1/suspend/{userId}

    - ``{"suspend": bool}``.
    """
    user_id = path_user_id(request)
    body = await json_object(request)
    if "suspend" not in body:
        raise MissingParam("Missing 'suspend'")
    value = get_bool(body, "suspend")
    await services(request).admin.users.set_flag(user_id, "suspended", value)
    return json_response({f"user_{'suspended' if value else 'unsuspended'}": True})


def _client_flag(flag: str) -> tuple[Route, Route]:
    """GET and PUT /_matrix/client/v1/admin/{suspend|lock}/{userId} (spec
    "Server administration")."""
    verb = "suspend" if flag == "suspended" else "lock"

    async def get_flag(request: web.Request) -> web.Response:
        user_id = path_user_id(request)
        row = await services(request).admin.users.flags(user_id)
        return json_response({flag: getattr(row, flag)})

    async def put_flag(request: web.Request) -> web.Response:
        user_id = path_user_id(request)
        body = await json_object(request)
        if flag not in body:
            raise MissingParam(f"Missing '{flag}'")
        value = get_bool(body, flag)
        if user_id == requester(request).user_id:
            raise Forbidden(f"You cannot {verb} your own account")
        svc = services(request)
        if (await svc.admin.users.flags(user_id)).is_admin:
            raise Forbidden(f"You cannot {verb} another server admin")
        await svc.admin.users.set_flag(user_id, flag, value)
        return json_response({flag: value})

    get_flag.__doc__ = f"GET /_matrix/client/v1/admin/{verb}/{{userId}}"
    put_flag.__doc__ = f"PUT /_matrix/client/v1/admin/{verb}/{{userId}}"
    path = f"{CLIENT_V1}/admin/{verb}/{{userId}}"
    return (
        Route("GET", path, get_flag, Auth.ADMIN, r0=False),
        Route("PUT", path, put_flag, Auth.ADMIN, r0=False),
    )


async def username_available(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/username_available?username=

    - 200 ``{"available": true}``, or 400 M_USER_IN_USE / M_INVALID_USERNAME.
    """
    username = request.query.get("username")
    if username is None:
        raise MissingParam("Missing 'username'")
    await services(request).registration.check_username(username.lower())
    return json_response({"available": True})


U1 = f"{ADMIN_V1}/users/{{userId}}"
U2 = f"{ADMIN_V2}/users/{{userId}}"


def _admin(method: str, path: str, handler: Handler) -> Route:
    return Route(method, path, handler, Auth.ADMIN, resource="admin")


routes = [
    _admin("GET", f"{ADMIN_V2}/users", list_users),
    _admin("GET", U2, get_user),
    _admin("PUT", U2, put_user),
    _admin("POST", f"{ADMIN_V1}/deactivate/{{userId}}", deactivate),
    _admin("POST", f"{ADMIN_V1}/reset_password/{{userId}}", reset_password),
    _admin("GET", f"{ADMIN_V1}/whois/{{userId}}", whois),
    Route("GET", f"{CLIENT_V3}/admin/whois/{{userId}}", client_whois, Auth.USER),
    _admin("GET", f"{U1}/joined_rooms", joined_rooms),
    _admin("GET", f"{U1}/admin", get_admin),
    _admin("PUT", f"{U1}/admin", put_admin),
    _admin("POST", f"{U1}/login", login_as),
    _admin("POST", f"{U1}/shadow_ban", shadow_ban),
    _admin("DELETE", f"{U1}/shadow_ban", unshadow_ban),
    _admin("GET", f"{U1}/override_ratelimit", get_ratelimit),
    _admin("POST", f"{U1}/override_ratelimit", set_ratelimit),
    _admin("DELETE", f"{U1}/override_ratelimit", delete_ratelimit),
    _admin("GET", f"{U1}/accountdata", account_data),
    _admin("GET", f"{U1}/pushers", pushers),
    _admin("GET", f"{U2}/devices", list_devices),
    _admin("POST", f"{U2}/devices", create_device),
    _admin("GET", f"{U2}/devices/{{deviceId}}", get_device),
    _admin("PUT", f"{U2}/devices/{{deviceId}}", put_device),
    _admin("DELETE", f"{U2}/devices/{{deviceId}}", delete_device),
    _admin("POST", f"{U2}/delete_devices", delete_devices),
    _admin("PUT", f"{ADMIN_V1}/suspend/{{userId}}", suspend_v1),
    _admin("GET", f"{ADMIN_V1}/username_available", username_available),
    *_client_flag("suspended"),
    *_client_flag("locked"),
]
