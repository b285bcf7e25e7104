"""Publishing our signing keys, and the federation version endpoint."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from aiohttp import web

from homeserver.api.http import json_object, json_response, services
from homeserver.api.routing import Auth, Route
from homeserver.core.errors import BadJson, NotFound
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
    asked = request.match_info.get("key_id")
    if asked is not None and asked != key_id(svc.signing_key):
        raise NotFound(f"No key {asked!r}")
    return json_response(_our_keys(request))


def _our_keys(request: web.Request) -> dict[str, Any]:
    """Our key response, signed with our key."""
    svc = services(request)
    signing_key = svc.signing_key
    body = {
        "server_name": svc.config.server_name,
        "valid_until_ts": svc.clock.time_ms() + KEY_VALIDITY_MS,
        "verify_keys": {
            key_id(signing_key): {"key": encode_verify_key(get_verify_key(signing_key))}
        },
        "old_verify_keys": {},
    }
    signed: dict[str, Any] = sign_json(body, svc.config.server_name, signing_key)
    return signed


def _notary_answer(request: web.Request, queries: dict[str, Any]) -> web.Response:
    """The keys we can vouch for: only our own, as we fetch no other
    server's keys yet (a server we cannot answer for is left out)."""
    server_name = services(request).config.server_name
    wanted = queries.get(server_name)
    keys = []
    if isinstance(wanted, dict):
        ours = key_id(services(request).signing_key)
        if not wanted or ours in wanted:
            keys.append(_our_keys(request))
    return json_response({"server_keys": keys})


async def post_key_query(request: web.Request) -> web.Response:
    """POST /_matrix/key/v2/query

    https://spec.matrix.org/v1.19/server-server-api/#post_matrixkeyv2query

    - A notary answer with our own keys when they are asked for; other
      servers' keys are not fetched (federation is not built yet).
    """
    body = await json_object(request)
    queries = body.get("server_keys")
    if not isinstance(queries, dict) or not all(isinstance(v, dict) for v in queries.values()):
        raise BadJson("'server_keys' must be an object of server names to key queries")
    return _notary_answer(request, queries)


async def get_key_query(request: web.Request) -> web.Response:
    """GET /_matrix/key/v2/query/{serverName}

    https://spec.matrix.org/v1.19/server-server-api/#get_matrixkeyv2queryservername

    - As the POST form, for one server and all its keys.
    """
    return _notary_answer(request, {request.match_info["serverName"]: {}})


async def get_federation_version(request: web.Request) -> web.Response:
    """GET /_matrix/federation/v1/version

    https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1version
    """
    return json_response({"server": {"name": "homeserver", "version": _server_version()}})


routes = [
    Route("GET", "/_matrix/key/v2/server", get_server_keys, Auth.NONE, resource="keys"),
    Route("GET", "/_matrix/key/v2/server/{key_id}", get_server_keys, Auth.NONE, resource="keys"),
    Route("POST", "/_matrix/key/v2/query", post_key_query, Auth.NONE, resource="keys"),
    Route("GET", "/_matrix/key/v2/query/{serverName}", get_key_query, Auth.NONE, resource="keys"),
    Route(
        "GET",
        "/_matrix/federation/v1/version",
        get_federation_version,
        Auth.NONE,
        resource="federation",
    ),
]
