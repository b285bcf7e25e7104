"""Shared-secret registration, as Synapse's admin API does it."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import get_bool, get_str, json_object, json_response, services
from homeserver.api.routing import Auth, Route

PATH = "/_synapse/admin/v1/register"


async def get_nonce(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/register

    https://element-hq.github.io/synapse/latest/admin_api/register_api.html

    - A single-use nonce, valid for a minute.
    - 404 M_NOT_FOUND when ``registration.shared_secret`` is not set.
    """
    nonce = await services(request).shared_secret_registration.new_nonce()
    return json_response({"nonce": nonce})


async def post_register(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/register

    https://element-hq.github.io/synapse/latest/admin_api/register_api.html

    - ``mac`` is hex HMAC-SHA1 with the shared secret over
      ``nonce NUL username NUL password NUL admin|notadmin [NUL user_type]``
      (403 M_FORBIDDEN when it does not match; the nonce is spent either way).
    - Works whether or not public registration is enabled; the password
      policy does not apply. The username is lower-cased.
    - Returns ``user_id``, ``access_token``, ``device_id`` and ``home_server``.
    """
    svc = services(request)
    body = await json_object(request)
    nonce = get_str(body, "nonce", required=True)
    username = get_str(body, "username", required=True)
    password = get_str(body, "password", required=True)
    mac = get_str(body, "mac", required=True)
    assert nonce is not None
    assert username is not None
    assert password is not None
    assert mac is not None
    result = await svc.shared_secret_registration.register(
        nonce=nonce,
        username=username,
        password=password,
        admin=get_bool(body, "admin"),
        user_type=get_str(body, "user_type"),
        mac=mac,
        displayname=get_str(body, "displayname"),
    )
    return json_response(result.to_json(svc.config.server_name))


routes = [
    Route("GET", PATH, get_nonce, Auth.NONE, resource="admin"),
    Route("POST", PATH, post_register, Auth.NONE, resource="admin"),
]
