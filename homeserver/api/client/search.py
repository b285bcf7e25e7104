"""Server-side search: POST /search."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route


async def post_search(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/search

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3search

    - category ``room_events``: ``search_term`` (any language: CJK text is
      matched by character bigrams), ``keys``, ``filter`` (rooms, senders,
      types, their negations, limit), ``order_by`` rank|recent,
      ``event_context``, ``include_state``, ``groupings``.
    - only rooms the user is or was joined to, and events history visibility
      lets them see; ``?next_batch=`` continues a previous search.
    - 400 M_BAD_JSON for a malformed body or an unknown category;
      400 M_INVALID_PARAM for a ``next_batch`` this search did not issue.
    """
    body = await json_object(request)
    result = await services(request).search.search(
        requester(request), body, request.query.get("next_batch")
    )
    return json_response(result)


routes = [
    Route("POST", CLIENT_V3 + "/search", post_search, Auth.USER, ratelimit=None),
]
