"""Third-party lookups: GET /_matrix/client/v3/thirdparty/…"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_response, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import MissingParam


def _fields(request: web.Request) -> dict[str, str]:
    """The query's search fields (the access token is not one)."""
    return {k: v for k, v in request.query.items() if k != "access_token"}


async def get_protocols(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/thirdparty/protocols

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartyprotocols

    - Every protocol the server's bridges serve, by name (``{}`` without bridges).
    """
    return json_response(await services(request).thirdparty.describe_all())


async def get_protocol(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/thirdparty/protocol/{protocol}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartyprotocolprotocol

    - 404 M_NOT_FOUND for a protocol no bridge serves.
    """
    found = await services(request).thirdparty.describe(request.match_info["protocol"])
    return json_response(found)


async def get_locations(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/thirdparty/location/{protocol}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartylocationprotocol

    - The protocol's locations matching the query's fields; 404 M_NOT_FOUND
      for an unknown protocol.
    """
    found = await services(request).thirdparty.locations(
        request.match_info["protocol"], _fields(request)
    )
    return json_response(found)


async def get_users(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/thirdparty/user/{protocol}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartyuserprotocol

    - The protocol's users matching the query's fields; 404 M_NOT_FOUND for
      an unknown protocol.
    """
    found = await services(request).thirdparty.users(
        request.match_info["protocol"], _fields(request)
    )
    return json_response(found)


async def get_locations_by_alias(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/thirdparty/location?alias=…

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartylocation

    - Locations bridged to the alias (``[]`` when none); 400 M_MISSING_PARAM
      without ``alias``.
    """
    alias = request.query.get("alias")
    if alias is None:
        raise MissingParam("Missing 'alias'")
    return json_response(await services(request).thirdparty.locations_for_alias(alias))


async def get_users_by_user_id(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/thirdparty/user?userid=…

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartyuser

    - Third-party users bridged to the Matrix user (``[]`` when none);
      400 M_MISSING_PARAM without ``userid``.
    """
    user_id = request.query.get("userid")
    if user_id is None:
        raise MissingParam("Missing 'userid'")
    return json_response(await services(request).thirdparty.users_for_user_id(user_id))


_TP = CLIENT_V3 + "/thirdparty"

routes = [
    Route("GET", _TP + "/protocols", get_protocols, Auth.USER_OR_GUEST),
    Route("GET", _TP + "/protocol/{protocol}", get_protocol, Auth.USER_OR_GUEST),
    Route("GET", _TP + "/location/{protocol}", get_locations, Auth.USER_OR_GUEST),
    Route("GET", _TP + "/user/{protocol}", get_users, Auth.USER_OR_GUEST),
    Route("GET", _TP + "/location", get_locations_by_alias, Auth.USER_OR_GUEST),
    Route("GET", _TP + "/user", get_users_by_user_id, Auth.USER_OR_GUEST),
]
