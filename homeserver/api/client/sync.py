"""Syncing: ``GET /sync``."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import json_response, query_bool, query_int, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import InvalidParam
from homeserver.core.tokens import InvalidToken, StreamToken
from homeserver.services.sync.service import SyncRequest

_PRESENCE = frozenset({"online", "unavailable", "offline"})


async def get_sync(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/sync

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3sync

    - ``since`` (a ``next_batch``; 400 M_INVALID_PARAM when unreadable),
      ``filter`` (inline JSON or a filter id; 400 M_BAD_JSON when invalid),
      ``full_state``, ``set_presence``, ``timeout`` (ms, capped by config),
      ``use_state_after`` (v1.16: ``state_after`` replaces ``state``).
    - With nothing new, waits until something concerning the user commits.
    """
    since_text = request.query.get("since")
    since = None
    if since_text:
        try:
            since = StreamToken.parse(since_text)
        except InvalidToken as e:
            raise InvalidParam(f"Invalid 'since' token: {e}") from e
    # Spec: when omitted, the client is marked online by polling /sync.
    set_presence = request.query.get("set_presence", "online")
    if set_presence not in _PRESENCE:
        raise InvalidParam("'set_presence' must be online, unavailable or offline")
    who = requester(request)
    sync = services(request).sync
    sync_filter = await sync.filters.resolve(who.user_id, request.query.get("filter"))
    body = await sync.sync.sync(
        SyncRequest(
            requester=who,
            since=since,
            filter=sync_filter,
            full_state=query_bool(request, "full_state"),
            timeout_ms=query_int(request, "timeout", 0, minimum=0) or 0,
            set_presence=set_presence,
            use_state_after=query_bool(request, "use_state_after"),
        )
    )
    return json_response(body)


routes = [Route("GET", CLIENT_V3 + "/sync", get_sync, Auth.USER_OR_GUEST)]
