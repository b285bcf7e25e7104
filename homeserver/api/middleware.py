"""Middlewares: request context and access log, CORS, Matrix error rendering,
and the per-route wrapper that authenticates and rate-limits.

Only this module turns exceptions into HTTP responses.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from homeserver.api.http import REQUESTER_KEY, json_response, services
from homeserver.api.routing import CLIENT_V3, Auth, Handler, Route
from homeserver.core.errors import (
    Codes,
    Forbidden,
    InvalidParam,
    MatrixError,
    MissingToken,
    UnknownToken,
    UserLocked,
    UserSuspended,
)
from homeserver.logging import request_id_var

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("homeserver.access")

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization, Date",
    "Access-Control-Expose-Headers": "Content-Disposition, Content-Type, Content-Length",
}

#: Request ids: a per-process random prefix and a counter (cheaper than
#: fresh random bytes per request, and still unique across restarts).
_REQUEST_ID_PREFIX = secrets.token_hex(3)
_request_numbers = itertools.count(1)

Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def _error_response(err: MatrixError) -> web.Response:
    headers = None
    retry = err.extra.get("retry_after_ms")
    if isinstance(retry, int):
        headers = {"Retry-After": str(max(1, (retry + 999) // 1000))}
    return json_response(err.to_json(), status=err.status, headers=headers)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, CORS, error rendering and the access log, in one place."""
    request_id = f"{_REQUEST_ID_PREFIX}{next(_request_numbers):x}"
    token = request_id_var.set(request_id)
    start = time.perf_counter()
    status = 500
    try:
        if request.method == "OPTIONS":
            response: web.StreamResponse = web.Response(status=204)
        else:
            try:
                response = await handler(request)
            except MatrixError as e:
                response = _error_response(e)
            except web.HTTPNotFound:
                response = _error_response(
                    MatrixError("Unrecognized request", code=Codes.UNRECOGNIZED, status=404)
                )
            except web.HTTPMethodNotAllowed:
                response = _error_response(
                    MatrixError("Unrecognized request", code=Codes.UNRECOGNIZED, status=405)
                )
            except web.HTTPRequestEntityTooLarge:
                response = _error_response(
                    MatrixError("Request body too large", code=Codes.TOO_LARGE)
                )
            except web.HTTPException as e:
                # aiohttp's own exceptions (e.g. redirects from handlers) pass through.
                response = e
            except Exception:
                logger.exception("Unhandled error on %s %s", request.method, request.path)
                response = _error_response(
                    MatrixError("Internal server error", code=Codes.UNKNOWN, status=500)
                )
        if not response.prepared:
            for k, v in CORS_HEADERS.items():
                response.headers.setdefault(k, v)
        status = response.status
        return response
    except asyncio.CancelledError:
        # The client went away (or shutdown ended the request): not a server error.
        status = 499
        raise
    finally:
        if services(request).config.logging.access_log:
            requester = request.get(REQUESTER_KEY)
            who = getattr(requester, "user_id", "-")
            access_logger.info(
                "%s %s %s %d %.1fms %s",
                request.remote,
                request.method,
                request.rel_url.path,  # never the query: it may carry access_token
                status,
                (time.perf_counter() - start) * 1000,
                who,
            )
        request_id_var.reset(token)


def access_token_of(request: web.Request) -> str | None:
    """The access token from the Authorization header or the deprecated query parameter."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        raise MissingToken("Invalid Authorization header")
    return request.query.get("access_token") or None


def _masquerade_device(request: web.Request) -> str | None:
    """The device an appservice acts as (MSC3202 name first, then MSC4190's)."""
    return request.query.get("org.matrix.msc3202.device_id") or request.query.get("device_id")


def _is_appservice_request(request: web.Request) -> bool:
    """An unauthenticated route called with an as_token (appservices are not
    rate-limited, e.g. when registering their users)."""
    try:
        token = access_token_of(request)
    except MatrixError:
        return False
    if token is None:
        return False
    return services(request).appservices.auth.appservice_for_token(token) is not None


#: What a locked account may still do (spec "Account locking").
_LOCKED_ALLOWED = frozenset({"/logout", "/logout/all"})

#: Routes a suspended account may not use (spec "Account suspension"): they
#: create rooms, change membership (other than leaving), change the profile
#: or upload media. Sending events is refused in the send service, which
#: knows whether it is a leave or a redaction of one's own event.
_SUSPENDED_REFUSED = frozenset(
    {
        ("POST", "/createRoom"),
        ("POST", "/join/{roomIdOrAlias}"),
        ("POST", "/rooms/{roomId}/join"),
        ("POST", "/knock/{roomIdOrAlias}"),
        ("POST", "/rooms/{roomId}/invite"),
        ("POST", "/rooms/{roomId}/kick"),
        ("POST", "/rooms/{roomId}/ban"),
        ("POST", "/rooms/{roomId}/unban"),
        ("PUT", "/profile/{userId}/{keyName}"),
        ("DELETE", "/profile/{userId}/{keyName}"),
        ("POST", "/_matrix/media/v1/create"),
        ("POST", "/_matrix/media/v3/upload"),
        ("POST", "/_matrix/media/r0/upload"),
        ("PUT", "/_matrix/media/v3/upload/{serverName}/{mediaId}"),
        ("PUT", "/_matrix/media/r0/upload/{serverName}/{mediaId}"),
    }
)


def _route_key(route: Route) -> str:
    """A client path without its version prefix; other paths unchanged."""
    if route.path.startswith(CLIENT_V3):
        return route.path[len(CLIENT_V3) :]
    return route.path


def wrap_handler(route: Route) -> Handler:
    """Adds the route's authentication and rate limiting around its handler."""
    inner = route.handler
    auth = route.auth
    limit = route.ratelimit
    key = _route_key(route)
    locked_allowed = key in _LOCKED_ALLOWED
    suspended_refused = (route.method, key) in _SUSPENDED_REFUSED

    async def handler(request: web.Request) -> web.StreamResponse:
        if "%00" in request.raw_path:
            # No identifier or parameter may hold NUL, and PostgreSQL text can't.
            raise InvalidParam("NUL characters are not allowed in the path or query")
        svc = services(request)
        requester = None
        if auth is not Auth.NONE:
            token = access_token_of(request)
            if token is None:
                if auth is not Auth.OPTIONAL:
                    raise MissingToken("Missing access token")
            else:
                # An appservice's as_token acts as its sender, or as the
                # user (and device) it masquerades as with ?user_id= / ?device_id=.
                requester = await svc.appservices.requester_for_token(
                    token, request.query.get("user_id"), _masquerade_device(request)
                ) or await svc.auth.requester_for_token(token)
                if requester.is_locked and not locked_allowed:
                    raise UserLocked()
                if requester.is_suspended and suspended_refused:
                    raise UserSuspended()
                if requester.is_guest and auth in (Auth.USER, Auth.ADMIN):
                    raise MatrixError("Guest access not allowed", code=Codes.GUEST_ACCESS_FORBIDDEN)
                if auth is Auth.ADMIN and not requester.is_admin:
                    raise Forbidden("You are not a server admin")
                request[REQUESTER_KEY] = requester
        if limit is not None:
            if requester is not None:
                if not requester.ratelimit_exempt:
                    svc.ratelimiter.check(limit, requester.user_id)
            elif not _is_appservice_request(request):
                svc.ratelimiter.check(limit, request.remote or "-")
        return await inner(request)

    handler.__name__ = getattr(inner, "__name__", "handler")
    handler.__doc__ = inner.__doc__
    return handler


__all__ = ["CORS_HEADERS", "UnknownToken", "access_token_of", "request_context", "wrap_handler"]
