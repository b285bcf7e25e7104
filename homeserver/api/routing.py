"""The route table.

Each API module exposes ``routes: list[Route]``; ``ROUTE_MODULES`` lists the
modules. A row names the method, the full path, the handler, who may call it
and which rate limit applies. ``install_routes`` wraps each handler with its
authentication and rate limit, so handlers only parse, call and serialise.

Client API paths are written with ``/_matrix/client/v3``; the same handler is
also served under ``/r0`` where the row says so (older clients still use it).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CLIENT_V3 = "/_matrix/client/v3"
CLIENT_V1 = "/_matrix/client/v1"


class Auth(Enum):
    #: No access token is read.
    NONE = "none"
    #: A token is used when present (and must then be valid).
    OPTIONAL = "optional"
    #: A registered (non-guest) user's token is required.
    USER = "user"
    #: A user's or a guest's token is required.
    USER_OR_GUEST = "user_or_guest"
    #: A server admin's token is required.
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    auth: Auth = Auth.USER
    #: Rate limit kind (a key of config.rate_limits), or None.
    ratelimit: str | None = None
    #: Also serve the /r0 form of a /v3 path.
    r0: bool = True
    #: Which listener resource serves it.
    resource: str = "client"
    name: str = field(default="")


#: Modules that contribute routes, in registration order.
ROUTE_MODULES: list[str] = [
    "homeserver.api.client.versions",
    "homeserver.api.client.register",
    "homeserver.api.client.login",
    "homeserver.api.client.devices",
    "homeserver.api.client.account",
    "homeserver.api.admin.register",
    "homeserver.api.admin.users",
    "homeserver.api.admin.rooms",
    "homeserver.api.admin.server",
    "homeserver.api.admin.media",
    "homeserver.api.admin.user_activity",
    "homeserver.api.admin.lookups",
    "homeserver.api.metrics",
    "homeserver.api.client.profile",
    "homeserver.api.client.account_data",
    "homeserver.api.client.rooms_create",
    "homeserver.api.client.rooms_send",
    "homeserver.api.client.rooms_state",
    "homeserver.api.client.rooms_membership",
    "homeserver.api.client.rooms_read",
    "homeserver.api.client.rooms_redact",
    "homeserver.api.client.keys",
    "homeserver.api.client.room_keys",
    "homeserver.api.client.sync",
    "homeserver.api.client.filters",
    "homeserver.api.client.typing",
    "homeserver.api.client.receipts",
    "homeserver.api.client.presence",
    "homeserver.api.client.to_device",
    "homeserver.api.client.dehydrated",
    "homeserver.api.federation.keys",
    "homeserver.api.client.pushrules",
    "homeserver.api.client.notifications",
    "homeserver.api.client.pushers",
    "homeserver.api.client.media",
    "homeserver.api.client.search",
    "homeserver.api.client.relations",
    "homeserver.api.client.directory",
    "homeserver.api.client.spaces",
    "homeserver.api.client.room_upgrades",
    "homeserver.api.client.reports",
    "homeserver.api.client.timestamp",
    "homeserver.api.client.voip",
    "homeserver.api.client.rtc",
    "homeserver.api.client.delayed_events",
    "homeserver.api.client.openid",
    "homeserver.api.federation.openid",
    "homeserver.api.client.appservice",
    "homeserver.api.client.tags",
    "homeserver.api.client.user_directory",
    "homeserver.api.client.thirdparty",
    "homeserver.api.client.room_summary",
    "homeserver.api.client.mutual_rooms",
    "homeserver.api.client.support",
    "homeserver.api.client.user_reports",
    "homeserver.api.client.legacy_events",
    "homeserver.api.client.login_token",
]


def all_routes() -> list[Route]:
    rows: list[Route] = []
    for name in ROUTE_MODULES:
        module = importlib.import_module(name)
        rows.extend(module.routes)
    return rows


def install_routes(app: web.Application, resources: set[str]) -> None:
    """Registers every route of the given resources on ``app``."""
    from homeserver.api.middleware import wrap_handler

    for route in all_routes():
        if route.resource not in resources:
            continue
        wrapped = wrap_handler(route)
        paths = [route.path]
        if route.r0 and route.path.startswith(CLIENT_V3):
            paths.append("/_matrix/client/r0" + route.path[len(CLIENT_V3) :])
        for path in paths:
            app.router.add_route(route.method, path, wrapped)
