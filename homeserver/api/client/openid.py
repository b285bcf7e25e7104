"""OpenID: tokens that prove who a user is to widgets and call services."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import Forbidden


async def post_request_token(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/user/{userId}/openid/request_token

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3useruseridopenidrequest_token

    - Only for oneself (403 M_FORBIDDEN otherwise); the body is ``{}``.
    - The token is checked at ``GET /_matrix/federation/v1/openid/userinfo``.
    """
    who = requester(request)
    if request.match_info["userId"] != who.user_id:
        raise Forbidden("You can only request an OpenID token for yourself")
    await json_object(request, allow_empty=True)
    svc = services(request)
    token, expires_in_ms = await svc.openid.issue(who.user_id)
    return json_response(
        {
            "access_token": token,
            "token_type": "Bearer",
            "matrix_server_name": svc.config.server_name,
            "expires_in": expires_in_ms // 1000,
        }
    )


routes = [
    Route(
        "POST",
        CLIENT_V3 + "/user/{userId}/openid/request_token",
        post_request_token,
        Auth.USER_OR_GUEST,
    ),
]
