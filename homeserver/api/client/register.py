"""Account registration (spec: "Account registration and management")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.http import (
    get_bool,
    get_obj,
    get_str,
    json_object,
    json_response,
    services,
)
from homeserver.api.middleware import access_token_of
from homeserver.api.routing import CLIENT_V1, CLIENT_V3, Auth, Route
from homeserver.core.errors import Forbidden, InvalidParam, MissingParam
from homeserver.services.accounts.devices import MAX_DEVICE_ID_LENGTH, MAX_DISPLAY_NAME_LENGTH
from homeserver.services.accounts.uia import DUMMY, REGISTRATION_TOKEN
from homeserver.services.appservice import APPSERVICE_LOGIN_TYPE


def check_device_id(device_id: str) -> None:
    """M_INVALID_PARAM unless 1-255 characters without NUL (which no database stores)."""
    if not 0 < len(device_id) <= MAX_DEVICE_ID_LENGTH or "\x00" in device_id:
        raise InvalidParam(f"A device ID must be 1-{MAX_DEVICE_ID_LENGTH} characters, no NUL")


def check_display_name(name: str, field: str) -> None:
    """M_INVALID_PARAM for a device display name that is too long or holds NUL."""
    if len(name) > MAX_DISPLAY_NAME_LENGTH or "\x00" in name:
        raise InvalidParam(f"'{field}' is too long or contains NUL")


def device_fields(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """``device_id`` and ``initial_device_display_name`` of a login or register body."""
    device_id = get_str(body, "device_id")
    if device_id is not None:
        check_device_id(device_id)
    display_name = get_str(body, "initial_device_display_name")
    if display_name is not None:
        check_display_name(display_name, "initial_device_display_name")
    return device_id, display_name


async def post_register(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/register

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3register

    - ``kind=guest`` creates a guest account when ``registration.allow_guests``
      is on; no user-interactive auth.
    - ``kind=user`` needs ``registration.enabled`` (else 403 M_FORBIDDEN) and
      one UIA flow: ``m.login.registration_token`` when
      ``registration.require_token``, else ``m.login.dummy``.
    - The username (lower-cased; generated when absent) and the password,
      when given, are checked before UIA starts: M_INVALID_USERNAME,
      M_USER_IN_USE, M_WEAK_PASSWORD. Without a password the answer is still
      the 401 with the flows (so ``{}`` discovers them); once the auth is
      complete a missing password is 400 M_MISSING_PARAM.
    - ``type: m.login.application_service`` with an appservice's as_token
      registers ``username`` in its users namespace (M_EXCLUSIVE outside it);
      a normal registration inside an exclusive namespace is M_EXCLUSIVE.
    - ``inhibit_login`` returns only ``user_id``; otherwise a device (reused
      when ``device_id`` names one) and tokens, with a refresh token when
      ``refresh_token`` is true.
    """
    svc = services(request)
    config = svc.config.registration
    kind = request.query.get("kind", "user")
    if kind not in ("user", "guest"):
        raise InvalidParam("'kind' must be 'user' or 'guest'")
    body = await json_object(request, allow_empty=True)
    device_id, display_name = device_fields(body)
    inhibit_login = get_bool(body, "inhibit_login")
    with_refresh = get_bool(body, "refresh_token")

    if body.get("type") == APPSERVICE_LOGIN_TYPE:
        # An appservice registers a user in its namespace with its as_token,
        # whether or not registration is open.
        user_id = await svc.appservices.register_user(
            access_token_of(request), get_str(body, "username")
        )
    elif kind == "guest":
        if not config.allow_guests:
            raise Forbidden("Guest access is disabled on this server")
        user_id = await svc.registration.register_guest()
    else:
        if not config.enabled:
            raise Forbidden("Registration has been disabled on this server")
        username = get_str(body, "username")
        password = get_str(body, "password")
        auth = get_obj(body, "auth")
        if username is not None:
            await svc.registration.check_username(username.lower())
        if password is not None:
            svc.registration.check_password(password)
        flows = [[REGISTRATION_TOKEN]] if config.require_token else [[DUMMY]]
        result = await svc.uia.check(
            auth=auth,
            flows=flows,
            uri=request.path,
            method=request.method,
            clientdict=body,
            description="register a new account",
        )
        # As Synapse: a body without a password (even ``{}``) still gets the
        # flows first; the password is only required to finish.
        if password is None:
            raise MissingParam("Missing 'password'")
        localpart = username.lower() if username is not None else None
        if localpart is None:
            localpart = svc.registration.generate_localpart()
        user_id = await svc.registration.register_user(localpart, password)
        await svc.uia.finish(result)

    if inhibit_login:
        return json_response({"user_id": user_id, "home_server": svc.config.server_name})
    session = await svc.login.create_session(
        user_id, device_id=device_id, display_name=display_name, with_refresh=with_refresh
    )
    return json_response(session.to_json(svc.config.server_name))


async def get_register_available(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/register/available

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3registeravailable

    - ``{"available": true}`` when ``username`` could be registered now.
    - M_INVALID_USERNAME for a name the grammar forbids, M_USER_IN_USE when taken.
    """
    username = request.query.get("username")
    if username is None:
        raise MissingParam("Missing 'username' query parameter")
    await services(request).registration.check_username(username.lower())
    return json_response({"available": True})


async def get_registration_token_validity(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/register/m.login.registration_token/validity

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1registermloginregistration_tokenvalidity

    - ``{"valid": bool}``: whether the token could be used to register now.
    - 403 M_FORBIDDEN when registration is disabled (every token is invalid then).
    """
    svc = services(request)
    if not svc.config.registration.enabled:
        raise Forbidden("Registration has been disabled on this server")
    token = request.query.get("token")
    if token is None:
        raise MissingParam("Missing 'token' query parameter")
    return json_response({"valid": await svc.registration.registration_token_valid(token)})


routes = [
    Route("POST", CLIENT_V3 + "/register", post_register, Auth.NONE, ratelimit="registration"),
    Route("GET", CLIENT_V3 + "/register/available", get_register_available, Auth.NONE),
    Route(
        "GET",
        CLIENT_V1 + "/register/m.login.registration_token/validity",
        get_registration_token_validity,
        Auth.NONE,
        ratelimit="registration",
    ),
]
