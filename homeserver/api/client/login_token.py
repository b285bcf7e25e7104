"""Signing in another device: POST /_matrix/client/v1/login/get_token."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.devices import authorise_with_uia
from homeserver.api.http import json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V1, Auth, Route
from homeserver.core.errors import Unrecognized


async def post_get_login_token(request: web.Request) -> web.Response:
    """POST /_matrix/client/v1/login/get_token

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv1loginget_token

    - Only when ``auth.login_token_enabled`` (else 404 M_UNRECOGNIZED, as for
      an endpoint the server does not offer; the ``m.get_login_token``
      capability says which).
    - Always asks for the password again (user-interactive auth, 401 until
      done): each new device needs the user's explicit consent.
    - ``login_token`` is single use, for ``m.login.token``; ``expires_in_ms``
      is ``auth.login_token_lifetime_ms``.
    """
    svc = services(request)
    if not svc.config.auth.login_token_enabled:
        raise Unrecognized("Login tokens are not enabled on this server")
    body = await json_object(request, allow_empty=True)
    who = requester(request)
    result = await authorise_with_uia(request, who, body, "sign in another device")
    token = await svc.tokens.create_login_token(who.user_id)
    if result is not None:
        await svc.uia.finish(result)
    return json_response(
        {"login_token": token, "expires_in_ms": svc.config.auth.login_token_lifetime_ms}
    )


routes = [
    Route(
        "POST", CLIENT_V1 + "/login/get_token", post_get_login_token, Auth.USER, ratelimit="login"
    ),
]
