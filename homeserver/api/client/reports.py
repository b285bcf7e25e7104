"""Reporting content: POST /rooms/{roomId}/report[/{eventId}]."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rooms_send import event_id_param, room_id_param
from homeserver.api.http import get_str, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import BadJson


async def post_report_event(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidreporteventid

    - ``reason`` (optional); the legacy ``score`` (-100..0) is still accepted.
    - 404 M_NOT_FOUND when the event is unknown or not visible to the
      reporter (who must be joined); 400 M_BAD_JSON / M_INVALID_PARAM.
    """
    room_id = room_id_param(request)
    event_id = event_id_param(request)
    body = await json_object(request, allow_empty=True)
    reason = get_str(body, "reason")
    score = body.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int)):
        raise BadJson("'score' must be an integer")
    await services(request).reports.report_event(
        requester(request), room_id, event_id, reason, score
    )
    return json_response({})


async def post_report_room(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/report

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidreport

    - ``reason`` is required (may be blank); 404 M_NOT_FOUND for a room this
      server does not know.
    """
    room_id = room_id_param(request)
    body = await json_object(request)
    reason = get_str(body, "reason", required=True) or ""
    await services(request).reports.report_room(requester(request), room_id, reason)
    return json_response({})


_ROOM = CLIENT_V3 + "/rooms/{roomId}"

routes = [
    Route("POST", _ROOM + "/report/{eventId}", post_report_event, Auth.USER, ratelimit="message"),
    Route("POST", _ROOM + "/report", post_report_room, Auth.USER, ratelimit="message"),
]
