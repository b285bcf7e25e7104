"""MatrixRTC transports (MSC4143): where Element Call finds its LiveKit service."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.http import json_response, services
from homeserver.api.routing import Auth, Route
from homeserver.config.model import Config

MSC4143 = "/_matrix/client/unstable/org.matrix.msc4143"


def rtc_transports(config: Config) -> list[dict[str, Any]]:
    """The configured RTC transports (a LiveKit service, or none)."""
    url = config.rtc.livekit_service_url
    if not url:
        return []
    return [{"type": "livekit", "livekit_service_url": url}]


async def get_rtc_transports(request: web.Request) -> web.Response:
    """GET /_matrix/client/unstable/org.matrix.msc4143/rtc/transports

    MSC4143 (MatrixRTC): https://github.com/matrix-org/matrix-spec-proposals/pull/4143

    - ``{"rtc_transports": [{"type": "livekit", "livekit_service_url": …}]}``;
      an empty list when ``rtc.livekit_service_url`` is unset.
    """
    return json_response({"rtc_transports": rtc_transports(services(request).config)})


routes = [
    Route("GET", MSC4143 + "/rtc/transports", get_rtc_transports, Auth.USER_OR_GUEST),
]
