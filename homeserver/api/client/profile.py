"""Profiles: GET /profile/{userId} and the per-field routes (spec v1.16
extended profiles: any key, GET/PUT/DELETE)."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import InvalidIdentifier, InvalidParam, MissingParam
from homeserver.core.ids import UserID, parse_user_id


def _user_id(request: web.Request) -> UserID:
    raw = request.match_info["userId"]
    try:
        return parse_user_id(raw, strict=False)
    except (InvalidIdentifier, UnicodeError) as e:
        raise InvalidParam("Invalid user ID") from e


async def get_profile(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/profile/{userId}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3profileuserid

    - Every field that is set: displayname, avatar_url and extended fields.
    - 404 M_NOT_FOUND for an unknown user.
    """
    profile = await services(request).profiles.get_profile(_user_id(request))
    return json_response(profile)


async def get_profile_field(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/profile/{userId}/{keyName}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3profileuseridkeyname

    - ``{keyName: value}``; 404 M_NOT_FOUND when the user or the field does not exist.
    """
    key = request.match_info["keyName"]
    value = await services(request).profiles.get_field(_user_id(request), key)
    return json_response({key: value})


async def put_profile_field(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/profile/{userId}/{keyName}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3profileuseridkeyname

    - The body is an object whose ``keyName`` property holds the value
      (M_MISSING_PARAM without it); other properties are ignored.
    - Only your own profile (403 M_FORBIDDEN).
    - displayname: a string of at most 256 characters; avatar_url: an mxc://
      URI; "" clears either (M_BAD_JSON otherwise).
    - Key names: displayname, avatar_url, m.tz or a namespaced identifier
      (M_INVALID_PARAM), at most 255 bytes (M_KEY_TOO_LARGE); the whole profile
      stays under 64 KiB (M_PROFILE_TOO_LARGE).
    """
    user_id = _user_id(request)
    key = request.match_info["keyName"]
    body = await json_object(request)
    if key not in body:
        raise MissingParam(f"Missing '{key}'")
    await services(request).profiles.set_field(requester(request), user_id, key, body[key])
    return json_response({})


async def delete_profile_field(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/profile/{userId}/{keyName}

    https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3profileuseridkeyname

    - Removes the field; a field that is not set is not an error.
    - Only your own profile (403 M_FORBIDDEN).
    """
    user_id = _user_id(request)
    key = request.match_info["keyName"]
    await services(request).profiles.delete_field(requester(request), user_id, key)
    return json_response({})


routes = [
    Route("GET", CLIENT_V3 + "/profile/{userId}", get_profile, Auth.NONE),
    Route("GET", CLIENT_V3 + "/profile/{userId}/{keyName}", get_profile_field, Auth.NONE),
    Route("PUT", CLIENT_V3 + "/profile/{userId}/{keyName}", put_profile_field, Auth.USER),
    Route("DELETE", CLIENT_V3 + "/profile/{userId}/{keyName}", delete_profile_field, Auth.USER),
]
