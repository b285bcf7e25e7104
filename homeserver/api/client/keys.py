"""End-to-end key distribution and cross-signing (spec: "End-to-End Encryption")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.client.devices import authorise_with_uia
from homeserver.api.http import get_obj, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Auth, Route
from homeserver.core.errors import InvalidParam, MissingParam
from homeserver.core.tokens import InvalidToken, StreamToken

#: Older clients send fallback keys under the MSC2732 name.
_UNSTABLE_FALLBACK = "org.matrix.msc2732.fallback_keys"


async def post_keys_upload(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/keys/upload

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysupload

    - ``device_keys`` must name the requester and its device; other identity
      keys for a device that has some are 400 M_INVALID_PARAM.
    - ``one_time_keys`` are added; an id reused with other content is 400.
    - ``fallback_keys`` replace the device's fallback key per algorithm.
    - Returns ``one_time_key_counts`` after the upload.
    """
    body = await json_object(request)
    who = requester(request)
    if who.device_id is None:
        raise InvalidParam("This access token has no device to upload keys for")
    fallback = get_obj(body, "fallback_keys")
    if fallback is None:
        fallback = get_obj(body, _UNSTABLE_FALLBACK)
    counts = await services(request).e2e_keys.upload(
        who.user_id,
        who.device_id,
        device_keys=get_obj(body, "device_keys"),
        one_time_keys=get_obj(body, "one_time_keys"),
        fallback_keys=fallback,
    )
    return json_response({"one_time_key_counts": counts})


async def post_keys_query(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/keys/query

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysquery

    - ``device_keys``: user id → device ids (empty list: every device).
    - Returns device keys (with ``unsigned.device_display_name``) and the
      master, self-signing and (own only) user-signing keys; remote servers
      are listed under ``failures``.
    """
    body = await json_object(request)
    wanted = get_obj(body, "device_keys", required=True) or {}
    result = await services(request).e2e_keys.query(requester(request).user_id, wanted)
    return json_response(result)


async def post_keys_claim(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/keys/claim

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysclaim

    - ``one_time_keys``: user id → device id → algorithm.
    - Each key is handed out once; when none is left the fallback key is
      returned (and reported used from then on).
    """
    body = await json_object(request)
    wanted = get_obj(body, "one_time_keys", required=True) or {}
    return json_response(await services(request).e2e_keys.claim(wanted))


async def get_keys_changes(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/keys/changes

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3keyschanges

    - ``from``/``to``: sync tokens; 400 M_INVALID_PARAM when unreadable.
    - ``changed``: users sharing a room whose devices changed in between;
      ``left``: users who no longer share a room.
    """
    tokens: list[StreamToken] = []
    for name in ("from", "to"):
        raw = request.query.get(name)
        if raw is None:
            raise MissingParam(f"Missing '{name}'")
        try:
            tokens.append(StreamToken.parse(raw))
        except InvalidToken as e:
            raise InvalidParam(f"Invalid '{name}' token") from e
    changes = await services(request).e2e_keys.device_list_changes(
        requester(request).user_id, tokens[0], tokens[1]
    )
    return json_response({"changed": sorted(changes.changed), "left": sorted(changes.left)})


async def post_device_signing_upload(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/keys/device_signing/upload

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysdevice_signingupload

    - User-interactive auth (``m.login.password``) unless the user has no
      master key yet or every uploaded key equals the stored one.
    - Sub-keys must be signed by the master key (400 M_INVALID_SIGNATURE);
      none available is 400 M_MISSING_PARAM; a key equal to a device id is 403.
    """
    body = await json_object(request, allow_empty=True)
    who = requester(request)
    svc = services(request)
    result = None
    if await svc.cross_signing.needs_auth(who.user_id, body):
        result = await authorise_with_uia(request, who, body, "upload cross-signing keys")
    await svc.cross_signing.upload_keys(who.user_id, body)
    if result is not None:
        await svc.uia.finish(result)
    return json_response({})


async def post_signatures_upload(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/keys/signatures/upload

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keyssignaturesupload

    - Body: user id → key id (device id or master public key) → signed object.
    - Each signature is checked on its own; failures are reported per key
      (M_INVALID_SIGNATURE, M_NOT_FOUND, M_INVALID_PARAM) and others stored.
    """
    body = await json_object(request)
    result = await services(request).cross_signing.upload_signatures(
        requester(request).user_id, body
    )
    return json_response(result)


routes = [
    Route("POST", CLIENT_V3 + "/keys/upload", post_keys_upload, Auth.USER_OR_GUEST),
    Route("POST", CLIENT_V3 + "/keys/query", post_keys_query, Auth.USER_OR_GUEST),
    Route("POST", CLIENT_V3 + "/keys/claim", post_keys_claim, Auth.USER_OR_GUEST),
    Route("GET", CLIENT_V3 + "/keys/changes", get_keys_changes, Auth.USER_OR_GUEST),
    Route(
        "POST",
        CLIENT_V3 + "/keys/device_signing/upload",
        post_device_signing_upload,
        Auth.USER,
    ),
    Route("POST", CLIENT_V3 + "/keys/signatures/upload", post_signatures_upload, Auth.USER),
]
