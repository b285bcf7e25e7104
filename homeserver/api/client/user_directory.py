"""User directory: POST /_matrix/client/v3/user_directory/search."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import get_str, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import BadJson


async def post_user_directory_search(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/user_directory/search

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3user_directorysearch

    - ``search_term`` (required) matches user ids and display names without
      regard to case; ``limit`` defaults to 10 (at most 100).
    - Finds users sharing a room with the requester or joined to a public
      room (every local user with ``user_directory.search_all_users``).
    - ``limited`` is true when more users matched than were returned.
    """
    body = await json_object(request)
    term = get_str(body, "search_term", required=True) or ""
    limit = body.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise BadJson("'limit' must be an integer")
    result = await services(request).user_directory.search(requester(request), term, limit)
    return json_response(result)


routes = [
    Route("POST", CLIENT_V3 + "/user_directory/search", post_user_directory_search, Auth.USER),
]
