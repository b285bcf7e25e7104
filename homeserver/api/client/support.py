"""Server support information: GET /.well-known/matrix/support."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.http import json_response, services
from homeserver.api.routing import Auth, Route
from homeserver.core.errors import NotFound


async def get_well_known_support(request: web.Request) -> web.Response:
    """GET /.well-known/matrix/support

    https://spec.matrix.org/v1.19/client-server-api/#getwell-knownmatrixsupport

    - ``contacts`` and/or ``support_page`` from ``well_known.support``;
      404 M_NOT_FOUND when that is unset.
    - Readable from web pages on other origins (CORS).
    """
    support = services(request).config.well_known.support
    if support is None:
        raise NotFound("No support information configured")
    body: dict[str, Any] = {}
    if support.contacts:
        body["contacts"] = [c.model_dump(exclude_none=True) for c in support.contacts]
    if support.support_page is not None:
        body["support_page"] = support.support_page
    return json_response(body, headers={"Access-Control-Allow-Origin": "*"})


routes = [
    Route("GET", "/.well-known/matrix/support", get_well_known_support, Auth.NONE),
]
