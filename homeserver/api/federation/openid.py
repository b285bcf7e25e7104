"""The OpenID userinfo endpoint: who an OpenID token belongs to."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_response, services
from homeserver.api.routing import Auth, Route
from homeserver.core.errors import UnknownToken


async def get_openid_userinfo(request: web.Request) -> web.Response:
    """GET /_matrix/federation/v1/openid/userinfo

    https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1openiduserinfo

    - ``?access_token=`` is a token from ``/openid/request_token``, not an
      access token; the answer is ``{"sub": user_id}``.
    - 401 M_UNKNOWN_TOKEN when the token is missing, unknown or expired.
    """
    token = request.query.get("access_token")
    # Our tokens are URL-safe base64; anything else (a NUL byte…) was never issued.
    if not token or not token.replace("-", "").replace("_", "").isalnum() or not token.isascii():
        raise UnknownToken("Unknown OpenID token")
    user_id = await services(request).openid.user_for(token)
    return json_response({"sub": user_id})


routes = [
    Route(
        "GET",
        "/_matrix/federation/v1/openid/userinfo",
        get_openid_userinfo,
        Auth.NONE,
        resource="federation",
    ),
]
