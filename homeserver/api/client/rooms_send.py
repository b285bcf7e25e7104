"""Sending events: PUT /rooms/{roomId}/send/… and PUT /rooms/{roomId}/state/…

Also holds the path parameter parsers the other ``rooms_*`` modules share.
"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.delayed_events import requested_delay, schedule_from_request
from homeserver.api.http import json_object, json_response, query_int, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import InvalidIdentifier, InvalidParam, MissingParam
from homeserver.core.ids import parse_event_id, parse_room_id
from homeserver.services.requester import Requester
from homeserver.services.rooms.persist import TxnKey


def room_id_param(request: web.Request) -> str:
    """The ``{roomId}`` path parameter (400 M_INVALID_PARAM when malformed)."""
    try:
        return parse_room_id(request.match_info["roomId"])
    except InvalidIdentifier as e:
        raise InvalidParam(f"Invalid room id: {e}") from e


def event_id_param(request: web.Request) -> str:
    try:
        return parse_event_id(request.match_info["eventId"])
    except InvalidIdentifier as e:
        raise InvalidParam(f"Invalid event id: {e}") from e


def txn_key(request: web.Request, who: Requester, path: str) -> TxnKey:
    """The txn scope: the device and the request path without the API version
    prefix (so an r0 retry of a v3 request is the same transaction)."""
    return TxnKey(who.user_id, who.device_id or "", path, request.match_info["txnId"])


def appservice_ts(request: web.Request, who: Requester) -> int | None:
    """The ``ts`` query parameter, honoured only for appservices (spec:
    "Timestamp massaging"); ignored for everyone else."""
    if who.appservice_id is None or "ts" not in request.query:
        return None
    return query_int(request, "ts", minimum=0, maximum=2**53 - 1)


async def put_send_event(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid

    - Idempotent per (device, path): a retry returns the same event_id.
    - 413 M_TOO_LARGE over 64 KiB; 403 M_FORBIDDEN naming the auth rule.
    - ``m.room.redaction`` with ``content.redacts`` (spec v1.18, MSC4169) is
      a redaction as ``PUT /redact`` makes it, in every room version.
    """
    room_id = room_id_param(request)
    event_type = request.match_info["eventType"]
    delay_ms = requested_delay(request)
    if delay_ms is not None:  # MSC4140: scheduled, not sent now
        return await schedule_from_request(request, room_id, event_type, None, delay_ms)
    content = await json_object(request)
    who = requester(request)
    txn = txn_key(request, who, f"/rooms/{room_id}/send/{event_type}/{request.match_info['txnId']}")
    if event_type == "m.room.redaction":
        redacts = content.get("redacts")
        if not isinstance(redacts, str):
            raise MissingParam("A redaction needs 'redacts' (an event id) in its content")
        try:
            target = parse_event_id(redacts)
        except InvalidIdentifier as e:
            raise InvalidParam(f"Invalid event id in 'redacts': {e}") from e
        event_id = await services(request).rooms.redact.redact(
            who, room_id, target, content.get("reason"), txn
        )
        return json_response({"event_id": event_id})
    event_id = await services(request).rooms.send.send_message(
        who, room_id, event_type, content, txn, ts=appservice_ts(request, who)
    )
    return json_response({"event_id": event_id})


async def put_state_event(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidstateeventtypestatekey

    - Also serves the form without ``/{stateKey}`` (empty state key).
    - Re-sending the current content returns the current event id.
    - 400 M_BAD_JSON (malformed power levels), M_BAD_ALIAS / M_INVALID_PARAM
      (canonical alias); 403 M_FORBIDDEN naming the auth rule.
    """
    room_id = room_id_param(request)
    event_type = request.match_info["eventType"]
    state_key = request.match_info.get("stateKey", "")
    delay_ms = requested_delay(request)
    if delay_ms is not None:  # MSC4140: scheduled, not sent now
        return await schedule_from_request(request, room_id, event_type, state_key, delay_ms)
    content = await json_object(request)
    event_id = await services(request).rooms.send.send_state(
        requester(request), room_id, event_type, state_key, content
    )
    return json_response({"event_id": event_id})


_ROOM = CLIENT_V3 + "/rooms/{roomId}"

routes = [
    Route("PUT", _ROOM + "/send/{eventType}/{txnId}", put_send_event, Auth.USER_OR_GUEST),
    Route("PUT", _ROOM + "/state/{eventType}", put_state_event, Auth.USER_OR_GUEST),
    Route("PUT", _ROOM + "/state/{eventType}/{stateKey:.*}", put_state_event, Auth.USER_OR_GUEST),
]
