"""PUT /rooms/{roomId}/redact/{eventId}/{txnId}."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.rooms_send import event_id_param, room_id_param, txn_key
from homeserver.api.http import json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route


async def put_redact(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidredacteventidtxnid

    - Optional ``reason``; idempotent per (device, path) like /send.
    - 403 M_FORBIDDEN for another user's event without the redact level.
    """
    room_id = room_id_param(request)
    event_id = event_id_param(request)
    body = await json_object(request, allow_empty=True)
    who = requester(request)
    txn = txn_key(request, who, f"/rooms/{room_id}/redact/{event_id}/{request.match_info['txnId']}")
    redaction_id = await services(request).rooms.redact.redact(
        who, room_id, event_id, body.get("reason"), txn
    )
    return json_response({"event_id": redaction_id})


routes = [
    Route(
        "PUT",
        CLIENT_V3 + "/rooms/{roomId}/redact/{eventId}/{txnId}",
        put_redact,
        Auth.USER_OR_GUEST,
    ),
]
