"""Publishing our signing keys, and the federation version endpoint."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from aiohttp import web

from homeserver.api.http import json_response, services
from homeserver.api.routing import Auth, Route
from homeserver.core.errors import NotFound
from homeserver.core.signing import encode_verify_key, get_verify_key, key_id, sign_json

#: How long other servers may cache our key response. A week, as the spec's
#: examples and other servers use; a key rotation must outlive it.
KEY_VALIDITY_MS = 7 * 24 * 3600 * 1000


def _server_version() -> str:
    try:
        return package_version("homeserver")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


async def get_server_keys(request: web.Request) -> web.Response:
    """GET /_matrix/key/v2/server (and the deprecated /_matrix/key/v2/server/{keyId})

    https://spec.matrix.org/v1.19/server-server-api/#get_matrixkeyv2server

    - Returns our current verify key, signed by the matching signing key.
    - ``old_verify_keys`` is empty: we have never rotated a key.
    - With a key id in the path (deprecated form), 404 unless it is ours.
    """
    svc = services(request)
    signing_key = svc.signing_key
    our_key_id = key_id(signing_key)
    asked = request.match_info.get("key_id")
    if asked is not None and asked != our_key_id:
        raise NotFound(f"No key {asked!r}")
    body = {
        "server_name": svc.config.server_name,
        "valid_until_ts": svc.clock.time_ms() + KEY_VALIDITY_MS,
        "verify_keys": {our_key_id: {"key": encode_verify_key(get_verify_key(signing_key))}},
        "old_verify_keys": {},
    }
    return json_response(sign_json(body, svc.config.server_name, signing_key))


async def get_federation_version(request: web.Request) -> web.Response:
    """GET /_matrix/federation/v1/version

    https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1version
    """
    return json_response({"server": {"name": "homeserver", "version": _server_version()}})


routes = [
    Route("GET", "/_matrix/key/v2/server", get_server_keys, Auth.NONE, resource="keys"),
    Route("GET", "/_matrix/key/v2/server/{key_id}", get_server_keys, Auth.NONE, resource="keys"),
    Route(
        "GET",
        "/_matrix/federation/v1/version",
        get_federation_version,
        Auth.NONE,
        resource="federation",
    ),
]
