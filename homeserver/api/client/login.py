"""Login, token refresh, logout and whoami (spec: "Login", "Refreshing access tokens",
"Current account information")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.client.register import device_fields
from homeserver.api.http import (
    get_bool,
    get_obj,
    get_str,
    json_object,
    json_response,
    requester,
    services,
)
from homeserver.api.middleware import access_token_of
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import (
    BadJson,
    Codes,
    Forbidden,
    MatrixError,
    MissingParam,
    UnknownToken,
)
from homeserver.services.appservice import APPSERVICE_LOGIN_TYPE

PASSWORD = "m.login.password"
TOKEN = "m.login.token"


async def get_login(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/login

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3login

    - ``m.login.password`` (unless ``auth.password_login`` is off),
      ``m.login.token`` and ``m.login.application_service``.
    """
    flows: list[dict[str, Any]] = []
    if services(request).config.auth.password_login:
        flows.append({"type": PASSWORD})
    token_flow: dict[str, Any] = {"type": TOKEN}
    if services(request).config.auth.login_token_enabled:
        # Tells signed-out clients that POST /login/get_token is offered.
        token_flow["get_login_token"] = True
    flows.append(token_flow)
    flows.append({"type": APPSERVICE_LOGIN_TYPE})
    return json_response({"flows": flows})


def _login_user(body: dict[str, Any]) -> str:
    """The user a password or appservice login names: ``identifier`` or the legacy ``user``."""
    identifier = get_obj(body, "identifier")
    if identifier is None:
        user = get_str(body, "user")
        if user is None:
            raise MissingParam("Missing 'identifier'")
        return user
    id_type = get_str(identifier, "type", required=True)
    if id_type != "m.id.user":
        # Third-party identifiers need 3PID support, which this server lacks.
        raise Forbidden(f"Login with identifier type {id_type!r} is not supported")
    user = get_str(identifier, "user", required=True)
    assert user is not None
    return user


async def post_login(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/login

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3login

    - ``m.login.password`` with ``identifier`` (``m.id.user``: a localpart or
      full user id) or the legacy top-level ``user``; 403 M_FORBIDDEN for an
      unknown user or wrong password, M_USER_DEACTIVATED for a deactivated account.
    - ``m.login.token`` with a single-use login token.
    - ``m.login.application_service`` with an appservice's as_token and an
      ``m.id.user`` identifier in its users namespace (403 M_FORBIDDEN
      outside it or for an unknown user; 401 M_MISSING_TOKEN /
      M_UNKNOWN_TOKEN without a valid as_token; 400
      M_APPSERVICE_LOGIN_UNSUPPORTED for an MSC4190 appservice).
    - ``device_id`` reuses that device (revoking its earlier tokens);
      ``refresh_token: true`` adds a refresh token.
    - Rate limited per IP ("login").
    """
    svc = services(request)
    body = await json_object(request)
    login_type = get_str(body, "type", required=True)
    device_id, display_name = device_fields(body)
    with_refresh = get_bool(body, "refresh_token")
    if login_type == PASSWORD and svc.config.auth.password_login:
        user = _login_user(body)
        password = get_str(body, "password", required=True)
        assert password is not None
        result = await svc.login.login_with_password(
            user,
            password,
            device_id=device_id,
            display_name=display_name,
            with_refresh=with_refresh,
        )
    elif login_type == TOKEN:
        token = get_str(body, "token", required=True)
        assert token is not None
        result = await svc.login.login_with_token(
            token, device_id=device_id, display_name=display_name, with_refresh=with_refresh
        )
    elif login_type == APPSERVICE_LOGIN_TYPE:
        result = await svc.appservices.login(
            access_token_of(request),
            _login_user(body),
            device_id=device_id,
            display_name=display_name,
            with_refresh=with_refresh,
        )
    else:
        raise MatrixError(f"Unknown login type {login_type!r}", code=Codes.UNKNOWN)
    return json_response(result.to_json(svc.config.server_name))


async def post_refresh(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/refresh

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3refresh

    - Exchanges a refresh token for a new access token and refresh token.
    - The old refresh token keeps working until the new access or refresh
      token is used; 401 M_UNKNOWN_TOKEN for an unknown, revoked or expired one.
    """
    svc = services(request)
    body = await json_object(request)
    refresh_token = body.get("refresh_token")
    if refresh_token is None:
        raise MissingParam("Missing 'refresh_token'")
    if not isinstance(refresh_token, str):
        raise BadJson("'refresh_token' must be a string")
    if not refresh_token:
        raise UnknownToken("Unknown refresh token")
    issued = await svc.tokens.refresh(refresh_token)
    out: dict[str, Any] = {"access_token": issued.access_token}
    if issued.refresh_token is not None:
        out["refresh_token"] = issued.refresh_token
    if issued.expires_in_ms is not None:
        out["expires_in_ms"] = issued.expires_in_ms
    return json_response(out)


async def post_logout(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/logout

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3logout

    - Revokes the access token and deletes its device.
    """
    await services(request).login.logout(requester(request))
    return json_response({})


async def post_logout_all(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/logout/all

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3logoutall

    - Revokes every token of the user, this one included, and deletes all devices.
    """
    await services(request).login.logout_all(requester(request).user_id)
    return json_response({})


async def get_whoami(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/account/whoami

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3accountwhoami

    - ``user_id``, ``is_guest`` and the token's ``device_id`` (when it has one).
    """
    who = requester(request)
    out: dict[str, Any] = {"user_id": who.user_id, "is_guest": who.is_guest}
    if who.device_id is not None:
        out["device_id"] = who.device_id
    return json_response(out)


routes = [
    Route("GET", CLIENT_V3 + "/login", get_login, Auth.NONE),
    Route("POST", CLIENT_V3 + "/login", post_login, Auth.NONE, ratelimit="login"),
    Route("POST", CLIENT_V3 + "/refresh", post_refresh, Auth.NONE, ratelimit="login"),
    Route("POST", CLIENT_V3 + "/logout", post_logout, Auth.USER_OR_GUEST),
    Route("POST", CLIENT_V3 + "/logout/all", post_logout_all, Auth.USER_OR_GUEST),
    Route("GET", CLIENT_V3 + "/account/whoami", get_whoami, Auth.USER_OR_GUEST),
]
