"""Send-to-device messaging: ``PUT /sendToDevice/{eventType}/{txnId}``."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import get_obj, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route


async def put_send_to_device(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3sendtodeviceeventtypetxnid

    - ``messages``: ``{user_id: {device_id or "*": content}}``; local users.
    - A repeated txn id (same device, same path) is accepted and ignored.
    """
    who = requester(request)
    body = await json_object(request)
    messages = get_obj(body, "messages", required=True) or {}
    await services(request).sync.to_device.send(
        who.user_id,
        who.device_id,
        request.match_info["eventType"],
        request.path.replace("/_matrix/client/r0/", "/_matrix/client/v3/"),
        messages,
    )
    return json_response({})


routes = [
    Route(
        "PUT",
        CLIENT_V3 + "/sendToDevice/{eventType}/{txnId}",
        put_send_to_device,
        Auth.USER_OR_GUEST,
    )
]
