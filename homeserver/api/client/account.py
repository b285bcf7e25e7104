"""Password change, deactivation and third-party identifiers (spec: "Account
registration and management", "Adding Account Administrative Contact Information").

This server has no e-mail or SMS support and no identity-server integration:
it holds no third-party identifiers, refuses to add any, and answers the
``requestToken`` endpoints with M_THREEPID_MEDIUM_NOT_SUPPORTED.
"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.devices import authorise_with_uia
from homeserver.api.http import get_bool, get_str, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import Codes, MatrixError


async def post_password(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/account/password

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3accountpassword

    - Needs user-interactive auth (``m.login.password`` with the current password).
    - ``new_password`` must meet the policy (M_WEAK_PASSWORD).
    - ``logout_devices`` (default true) revokes every other token and deletes
      every other device; the requesting token always survives.
    """
    svc = services(request)
    body = await json_object(request)
    who = requester(request)
    new_password = get_str(body, "new_password", required=True)
    assert new_password is not None
    logout_devices = get_bool(body, "logout_devices", default=True)
    svc.passwords.check_policy(new_password)
    result = await authorise_with_uia(request, who, body, "change the password")
    await svc.account.change_password(
        who.user_id,
        new_password,
        logout_devices=logout_devices,
        keep_device_id=who.device_id,
        keep_token_id=who.token_id,
    )
    if result is not None:
        await svc.uia.finish(result)
    return json_response({})


async def post_deactivate(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/account/deactivate

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3accountdeactivate

    - Needs user-interactive auth (``m.login.password``).
    - Deactivates the account: logins fail from now on, every device and
      token is gone; ``erase`` also marks the account erased.
    - ``id_server_unbind_result`` is ``no-support``: there is nothing to unbind.
    """
    svc = services(request)
    body = await json_object(request, allow_empty=True)
    who = requester(request)
    erase = get_bool(body, "erase")
    get_str(body, "id_server")
    result = await authorise_with_uia(request, who, body, "deactivate the account")
    await svc.account.deactivate(who.user_id, erase=erase)
    if result is not None:
        await svc.uia.finish(result)
    return json_response({"id_server_unbind_result": "no-support"})


async def get_threepids(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/account/3pid

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3account3pid

    - Always empty: this server stores no third-party identifiers.
    """
    return json_response({"threepids": []})


async def post_threepid_refused(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/account/3pid/add, /account/3pid/bind, /account/3pid

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pidadd

    - Refused with M_THREEPID_MEDIUM_NOT_SUPPORTED: this server cannot verify
      or store third-party identifiers.
    """
    await json_object(request, allow_empty=True)
    raise MatrixError(
        "This server does not support adding or binding third-party identifiers",
        code=Codes.THREEPID_MEDIUM_NOT_SUPPORTED,
    )


async def post_threepid_remove(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/account/3pid/delete, /account/3pid/unbind

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3piddelete

    - ``medium`` and ``address`` are required. The server holds no
      third-party identifiers, so there is nothing to remove: success, with
      ``id_server_unbind_result: no-support``.
    """
    body = await json_object(request)
    get_str(body, "medium", required=True)
    get_str(body, "address", required=True)
    get_str(body, "id_server")
    return json_response({"id_server_unbind_result": "no-support"})


async def post_request_token(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/{register,account/password,account/3pid}/{email,msisdn}/requestToken

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3registeremailrequesttoken

    - Refused with M_THREEPID_MEDIUM_NOT_SUPPORTED: this server sends no
      e-mail or SMS.
    """
    await json_object(request, allow_empty=True)
    medium = "e-mail" if "/email/" in request.path else "SMS"
    raise MatrixError(
        f"This server cannot send {medium} verification codes",
        code=Codes.THREEPID_MEDIUM_NOT_SUPPORTED,
    )


routes = [
    Route("POST", CLIENT_V3 + "/account/password", post_password, Auth.USER),
    Route("POST", CLIENT_V3 + "/account/deactivate", post_deactivate, Auth.USER),
    Route("GET", CLIENT_V3 + "/account/3pid", get_threepids, Auth.USER),
    Route("POST", CLIENT_V3 + "/account/3pid", post_threepid_refused, Auth.USER),
    Route("POST", CLIENT_V3 + "/account/3pid/add", post_threepid_refused, Auth.USER),
    Route("POST", CLIENT_V3 + "/account/3pid/bind", post_threepid_refused, Auth.USER),
    Route("POST", CLIENT_V3 + "/account/3pid/delete", post_threepid_remove, Auth.USER),
    Route("POST", CLIENT_V3 + "/account/3pid/unbind", post_threepid_remove, Auth.USER),
    *(
        Route("POST", CLIENT_V3 + f"/{prefix}/{medium}/requestToken", post_request_token, Auth.NONE)
        for prefix in ("register", "account/password", "account/3pid")
        for medium in ("email", "msisdn")
    ),
]
