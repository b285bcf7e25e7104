"""Device management (spec: "Device management")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.client.register import check_device_id, check_display_name
from homeserver.api.http import get_obj, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import BadJson, MissingParam
from homeserver.services.accounts.uia import PASSWORD, UIAResult
from homeserver.services.requester import Requester
from homeserver.storage.stores.devices import Device


def _device_json(device: Device) -> dict[str, Any]:
    out: dict[str, Any] = {"device_id": device.device_id}
    if device.display_name is not None:
        out["display_name"] = device.display_name
    if device.last_seen_ip is not None:
        out["last_seen_ip"] = device.last_seen_ip
    if device.last_seen_ts is not None:
        out["last_seen_ts"] = device.last_seen_ts
    return out


async def authorise_with_uia(
    request: web.Request, who: Requester, body: dict[str, Any], description: str
) -> UIAResult | None:
    """Runs user-interactive auth (the requester's password) for a sensitive request.

    Application services act for their users and skip it.

    Returns:
        The completed UIA result (pass it to ``services.uia.finish``), or None
        when skipped.
    """
    if who.appservice_id is not None:
        return None
    return await services(request).uia.check(
        auth=get_obj(body, "auth"),
        flows=[[PASSWORD]],
        uri=request.path,
        method=request.method,
        clientdict=body,
        description=description,
        user_id=who.user_id,
    )


def _path_device_id(request: web.Request) -> str:
    device_id = request.match_info["deviceId"]
    check_device_id(device_id)
    return device_id


async def get_devices(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/devices

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3devices

    - Every device of the requester, ordered by device id.
    """
    devices = await services(request).devices.list_devices(requester(request).user_id)
    return json_response({"devices": [_device_json(d) for d in devices]})


async def get_device(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/devices/{deviceId}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3devicesdeviceid

    - 404 M_NOT_FOUND for a device the requester does not have.
    """
    device = await services(request).devices.get_device(
        requester(request).user_id, _path_device_id(request)
    )
    return json_response(_device_json(device))


async def put_device(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/devices/{deviceId}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3devicesdeviceid

    - Sets (or with ``null``, clears) the display name; other fields are ignored.
    - 404 M_NOT_FOUND for a device the requester does not have.
    """
    body = await json_object(request)
    who = requester(request)
    device_id = _path_device_id(request)
    if "display_name" not in body:
        await services(request).devices.get_device(who.user_id, device_id)
        return json_response({})
    name = body["display_name"]
    if name is not None and not isinstance(name, str):
        raise BadJson("'display_name' must be a string")
    if name is not None:
        check_display_name(name, "display_name")
    await services(request).devices.set_display_name(who.user_id, device_id, name)
    return json_response({})


async def delete_device(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/devices/{deviceId}

    https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3devicesdeviceid

    - Needs user-interactive auth (``m.login.password``); an empty body starts it.
    - Deletes the device and revokes its tokens; an unknown device is not an error.
    """
    device_id = _path_device_id(request)
    body = await json_object(request, allow_empty=True)
    who = requester(request)
    result = await authorise_with_uia(request, who, body, "delete a device")
    svc = services(request)
    await svc.devices.delete_devices(who.user_id, [device_id])
    if result is not None:
        await svc.uia.finish(result)
    return json_response({})


async def post_delete_devices(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/delete_devices

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3delete_devices

    - ``devices``: the ids to delete (unknown ones are ignored).
    - Needs user-interactive auth (``m.login.password``).
    """
    body = await json_object(request)
    devices = body.get("devices")
    if devices is None:
        raise MissingParam("Missing 'devices'")
    if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
        raise BadJson("'devices' must be a list of strings")
    for device_id in devices:
        check_device_id(device_id)
    who = requester(request)
    result = await authorise_with_uia(request, who, body, "delete devices")
    svc = services(request)
    await svc.devices.delete_devices(who.user_id, devices)
    if result is not None:
        await svc.uia.finish(result)
    return json_response({})


routes = [
    Route("GET", CLIENT_V3 + "/devices", get_devices, Auth.USER_OR_GUEST),
    Route("GET", CLIENT_V3 + "/devices/{deviceId}", get_device, Auth.USER_OR_GUEST),
    Route("PUT", CLIENT_V3 + "/devices/{deviceId}", put_device, Auth.USER_OR_GUEST),
    Route("DELETE", CLIENT_V3 + "/devices/{deviceId}", delete_device, Auth.USER),
    Route("POST", CLIENT_V3 + "/delete_devices", post_delete_devices, Auth.USER),
]
