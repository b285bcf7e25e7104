"""Versions, capabilities and .well-known discovery."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rtc import rtc_transports
from homeserver.api.http import json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import NotFound
from homeserver.core.room_versions import KNOWN_ROOM_VERSIONS, SUPPORTED_ROOM_VERSIONS

#: Spec versions whose client-server API we implement enough of for clients
#: to rely on: each one's changelog (client-server section) checked against
#: what the server does; a version is listed only when it and every earlier
#: one are met. What the later ones ask of a server, and where it is met:
#: - v1.13: room reports, M_USER_SUSPENDED, one-time keys claimed oldest
#:   first (MSC4225).
#: - v1.14: user reports.
#: - v1.15: /room_summary, createRoom's topic also as an m.topic rich topic,
#:   /auth_metadata answering 404 M_UNRECOGNIZED (no OAuth 2.0 server).
#: - v1.16: custom profile fields and m.tz (m.profile_fields capability),
#:   ``format=event`` on GET /state, ``use_state_after`` on /sync, room
#:   version 12 creators on create and upgrade, m.room.create in the
#:   stripped state of invites and knocks (MSC4311).
#: - v1.17: appservices acting as a device with ``device_id`` (MSC4326) and
#:   managing devices (MSC4190). The legacy body-mention push rules stay, as
#:   Synapse keeps them: the spec allows further server-default rules.
#: - v1.18: admin suspend/lock with the m.account_moderation capability,
#:   redactions through PUT /send (MSC4169), invite blocking (MSC4380).
#: - v1.19: /mutual_rooms, ``unsigned.replaces_state``.
#: Federation is not built yet; these are client-server API versions.
SUPPORTED_SPEC_VERSIONS = [
    "r0.5.0",
    "r0.6.0",
    "r0.6.1",
    "v1.1",
    "v1.2",
    "v1.3",
    "v1.4",
    "v1.5",
    "v1.6",
    "v1.7",
    "v1.8",
    "v1.9",
    "v1.10",
    # v1.11 is what makes clients use authenticated media (/_matrix/client/v1/media).
    "v1.11",
    "v1.12",
    "v1.13",
    "v1.14",
    "v1.15",
    "v1.16",
    "v1.17",
    "v1.18",
    "v1.19",
]


async def get_versions(request: web.Request) -> web.Response:
    """GET /_matrix/client/versions

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientversions
    """
    return json_response(
        {
            "versions": SUPPORTED_SPEC_VERSIONS,
            "unstable_features": {"org.matrix.msc4140": True, "org.matrix.msc3814": True},
        }
    )


async def get_capabilities(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/capabilities

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3capabilities
    """
    config = services(request).config
    # v1.18: only for those who may use PUT /admin/suspend and /admin/lock.
    moderation = (
        {"m.account_moderation": {"suspend": True, "lock": True}}
        if requester(request).is_admin
        else {}
    )
    available = {
        rv: ("stable" if v.stable else "unstable")
        for rv, v in KNOWN_ROOM_VERSIONS.items()
        if rv in SUPPORTED_ROOM_VERSIONS
    }
    return json_response(
        {
            "capabilities": {
                "m.room_versions": {
                    "default": config.rooms.default_room_version,
                    "available": available,
                },
                "m.change_password": {"enabled": config.auth.password_login},
                "m.set_displayname": {"enabled": True},
                "m.set_avatar_url": {"enabled": True},
                "m.3pid_changes": {"enabled": False},
                "m.get_login_token": {"enabled": config.auth.login_token_enabled},
                # v1.16: every field may be set (displayname, avatar_url, m.tz
                # and namespaced keys), as m.set_displayname/m.set_avatar_url say.
                "m.profile_fields": {"enabled": True},
                # v1.18: leaving a room does not forget it.
                "m.forget_forced_upon_leave": {"enabled": False},
                **moderation,
            }
        }
    )


async def get_well_known_client(request: web.Request) -> web.Response:
    """GET /.well-known/matrix/client

    https://spec.matrix.org/v1.19/client-server-api/#getwell-knownmatrixclient
    """
    config = services(request).config
    base = config.well_known.client_base_url or config.public_baseurl
    if not base:
        raise NotFound("No .well-known configured")
    body: dict[str, object] = {"m.homeserver": {"base_url": base}}
    # MSC4143: the LiveKit service Element Call uses for group calls.
    transports = rtc_transports(config)
    if transports:
        body["org.matrix.msc4143.rtc_foci"] = transports
    return json_response(
        body,
        headers={"Access-Control-Allow-Origin": "*"},
    )


async def get_well_known_server(request: web.Request) -> web.Response:
    """GET /.well-known/matrix/server

    https://spec.matrix.org/v1.19/server-server-api/#getwell-knownmatrixserver
    """
    server = services(request).config.well_known.server
    if not server:
        raise NotFound("No .well-known configured")
    return json_response({"m.server": server})


routes = [
    Route("GET", "/_matrix/client/versions", get_versions, Auth.NONE),
    Route("GET", CLIENT_V3 + "/capabilities", get_capabilities, Auth.USER_OR_GUEST),
    Route("GET", "/.well-known/matrix/client", get_well_known_client, Auth.NONE),
    Route(
        "GET", "/.well-known/matrix/server", get_well_known_server, Auth.NONE, resource="federation"
    ),
]
