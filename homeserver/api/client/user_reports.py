"""Reporting users: POST /_matrix/client/v3/users/{userId}/report."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import get_str, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import InvalidIdentifier, InvalidParam
from homeserver.core.ids import parse_user_id


async def post_report_user(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/users/{userId}/report

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3usersuseridreport

    - ``reason`` is required (may be blank); the report is kept for admins.
    - 404 M_NOT_FOUND when no such local user exists (deactivated users can
      still be reported); 400 M_INVALID_PARAM for a malformed user id.
    """
    try:
        user_id = parse_user_id(request.match_info["userId"], strict=False)
    except InvalidIdentifier as e:
        raise InvalidParam(f"Invalid user id: {e}") from e
    body = await json_object(request)
    reason = get_str(body, "reason", required=True) or ""
    await services(request).user_directory.report_user(requester(request), user_id, reason)
    return json_response({})


routes = [
    Route(
        "POST",
        CLIENT_V3 + "/users/{userId}/report",
        post_report_user,
        Auth.USER,
        ratelimit="message",
    ),
]
