"""Admin API: single events and their context, room reports, and the
lookups by third-party id, SSO id and federation destination.

https://element-hq.github.io/synapse/latest/usage/administration/admin_api/
"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.admin.params import ADMIN_V1, path_room_id, report_filters
from homeserver.api.client.rooms_send import event_id_param
from homeserver.api.http import json_response, query_int, requester, services
from homeserver.api.routing import Auth, Handler, Route
from homeserver.core.errors import NotFound
from homeserver.services.admin.events import EventAdmin
from homeserver.services.rooms.filters import RoomEventFilter


def _events(request: web.Request) -> EventAdmin:
    events = services(request).admin.events
    assert events is not None  # build_admin always makes it
    return events


async def fetch_event(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/fetch_event/{eventId}

    - Any stored event, in client format, whatever the admin's membership.
    - 404 M_NOT_FOUND for an unknown event.
    """
    event = await _events(request).fetch_event(requester(request), event_id_param(request))
    return json_response({"event": event})


async def room_context(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/rooms/{roomId}/context/{eventId}

    - As the client API's ``/context``, without membership or history
      visibility checks: ``limit`` (default 10) events around the event,
      an inline JSON ``filter``, the state at the event.
    - ``start``/``end`` page on through the admin ``/messages`` endpoint.
    """
    room_id = path_room_id(request)
    event_id = event_id_param(request)
    limit = query_int(request, "limit", 10, minimum=0)
    assert limit is not None
    body = await _events(request).context(
        requester(request),
        room_id,
        event_id,
        limit=limit,
        event_filter=RoomEventFilter.parse(request.query.get("filter")),
    )
    return json_response(body)


async def room_reports(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/room_reports

    - Reports of whole rooms (``POST /rooms/{roomId}/report``); ``from``/
      ``limit``, ``dir`` (default ``b``: newest first), ``user_id`` and
      ``room_id`` filters.
    """
    body = await services(request).admin.reports.list_room_reports(**report_filters(request))
    return json_response(body)


async def user_by_threepid(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/threepid/{medium}/users/{address}

    - Accounts here have no third-party ids (binding one is refused), so no
      user is ever found: 404 M_NOT_FOUND.
    """
    raise NotFound("User not found")


async def user_by_external_id(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/auth_providers/{provider}/users/{externalId}

    - There is no single sign-on, so no account has an external id:
      404 M_NOT_FOUND.
    """
    raise NotFound("User not found")


async def destination_rooms(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/federation/destinations/{destination}/rooms

    - No federation sender yet: every destination is unknown (404).
    """
    raise NotFound("Unknown destination")


async def reset_destination(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection

    - No federation sender yet: every destination is unknown (404), so
      there is no backoff to reset.
    """
    raise NotFound("Unknown destination")


def _admin(method: str, path: str, handler: Handler) -> Route:
    return Route(method, path, handler, Auth.ADMIN, resource="admin")


D = f"{ADMIN_V1}/federation/destinations/{{destination}}"

routes = [
    _admin("GET", f"{ADMIN_V1}/fetch_event/{{eventId}}", fetch_event),
    _admin("GET", f"{ADMIN_V1}/rooms/{{roomId}}/context/{{eventId}}", room_context),
    _admin("GET", f"{ADMIN_V1}/room_reports", room_reports),
    _admin("GET", f"{ADMIN_V1}/threepid/{{medium}}/users/{{address}}", user_by_threepid),
    _admin(
        "GET",
        f"{ADMIN_V1}/auth_providers/{{provider}}/users/{{externalId}}",
        user_by_external_id,
    ),
    _admin("GET", f"{D}/rooms", destination_rooms),
    _admin("POST", f"{D}/reset_connection", reset_destination),
]
