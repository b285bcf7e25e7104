"""Dehydrated devices (MSC3814, unstable ``org.matrix.msc3814.v1`` endpoints).

https://github.com/matrix-org/matrix-spec-proposals/pull/3814
"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import get_obj, get_str, json_object, json_response, requester, services
from homeserver.api.routing import Auth, Route
from homeserver.core.errors import BadJson, InvalidParam

PREFIX = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"

#: Longest ``next_batch`` token read (a stream position in decimal).
_MAX_TOKEN_DIGITS = 18


async def put_dehydrated_device(request: web.Request) -> web.Response:
    """PUT /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device

    - ``device_data`` (object with a string ``algorithm``, required): stored
      as given; ``device_id`` (generated when absent),
      ``initial_device_display_name``.
    - ``device_keys``, ``one_time_keys``, ``fallback_keys``: uploaded for the
      new device as by /keys/upload.
    - Replaces (deletes) the user's previous dehydrated device. A
      ``device_id`` naming another of the user's devices is 400 M_INVALID_PARAM.
    - Returns ``{device_id}``.
    """
    body = await json_object(request)
    device_data = get_obj(body, "device_data", required=True) or {}
    device_id = await services(request).dehydrated_devices.create(
        requester(request).user_id,
        device_id=get_str(body, "device_id"),
        device_data=device_data,
        display_name=get_str(body, "initial_device_display_name"),
        device_keys=get_obj(body, "device_keys"),
        one_time_keys=get_obj(body, "one_time_keys"),
        fallback_keys=get_obj(body, "fallback_keys"),
    )
    return json_response({"device_id": device_id})


async def get_dehydrated_device(request: web.Request) -> web.Response:
    """GET /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device

    - Returns ``{device_id, device_data}``; 404 M_NOT_FOUND when there is none.
    """
    found = await services(request).dehydrated_devices.get(requester(request).user_id)
    return json_response({"device_id": found.device_id, "device_data": found.device_data})


async def delete_dehydrated_device(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device

    - Deletes the device with its keys and messages; returns ``{device_id}``;
      404 M_NOT_FOUND when there is none.
    """
    device_id = await services(request).dehydrated_devices.delete(requester(request).user_id)
    return json_response({"device_id": device_id})


async def post_dehydrated_device_events(request: web.Request) -> web.Response:
    """POST /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events

    - ``next_batch`` (optional): the token of the previous page; the messages
      it covered are deleted.
    - Returns ``{events, next_batch}``; an empty ``events`` means the inbox
      is drained. A device other than the user's dehydrated one is 403.
    """
    body = await json_object(request, allow_empty=True)
    raw = get_str(body, "next_batch")
    next_batch: int | None = None
    if raw is not None:
        if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_TOKEN_DIGITS:
            raise InvalidParam("Invalid 'next_batch' token")
        next_batch = int(raw)
    device_id = request.match_info["deviceId"]
    if not device_id:
        raise BadJson("Missing device id")
    events, token = await services(request).dehydrated_devices.events(
        requester(request).user_id, device_id, next_batch
    )
    return json_response({"events": events, "next_batch": str(token)})


routes = [
    Route("PUT", PREFIX, put_dehydrated_device, Auth.USER, r0=False),
    Route("GET", PREFIX, get_dehydrated_device, Auth.USER, r0=False),
    Route("DELETE", PREFIX, delete_dehydrated_device, Auth.USER, r0=False),
    Route(
        "POST", PREFIX + "/{deviceId}/events", post_dehydrated_device_events, Auth.USER, r0=False
    ),
]
