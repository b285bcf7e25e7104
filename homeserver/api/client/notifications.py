"""Listing notifications: ``GET /notifications`` (spec "Listing Notifications")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_response, query_int, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route


async def get_notifications(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/notifications

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3notifications

    - Newest first; ``from`` is a ``next_token`` of an earlier page;
      ``limit`` (default 20, at most 100); ``only=highlight``.
    - ``next_token`` only while a full page came back.
    - 400 M_INVALID_PARAM for a malformed ``from`` or ``limit``.
    """
    body = await services(request).push.counts.notifications(
        requester(request).user_id,
        from_token=request.query.get("from"),
        limit=query_int(request, "limit", minimum=0),
        only=request.query.get("only"),
    )
    return json_response(body)


routes = [Route("GET", CLIENT_V3 + "/notifications", get_notifications, Auth.USER)]
