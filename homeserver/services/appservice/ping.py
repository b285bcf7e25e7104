"""``POST /_matrix/client/v1/appservice/{appserviceId}/ping``: the homeserver
calls the appservice's ``POST /_matrix/app/v1/ping`` and reports how long it took."""

from __future__ import annotations

import aiohttp

from homeserver.core.errors import Codes, MatrixError
from homeserver.services.appservice.client import AppserviceHttp
from homeserver.services.appservice.namespaces import AppService
from homeserver.services.clock import Clock

#: Longest a ping waits for the appservice.
PING_TIMEOUT_S = 10.0
#: Most of the appservice's answer body echoed in M_BAD_STATUS.
_BODY_ECHO_MAX = 4096


async def ping(
    http: AppserviceHttp,
    clock: Clock,
    svc: AppService,
    transaction_id: str | None,
    *,
    timeout_s: float = PING_TIMEOUT_S,
) -> int:
    """Pings the appservice; returns the round trip in milliseconds.

    Raises:
        MatrixError: M_URL_NOT_SET (400), M_BAD_STATUS (502, with ``status``
            and ``body``), M_CONNECTION_FAILED (502), M_CONNECTION_TIMEOUT (504).
    """
    if svc.registration.url is None:
        raise MatrixError("Application service URL is not set", code=Codes.URL_NOT_SET)
    body = {} if transaction_id is None else {"transaction_id": transaction_id}
    start = clock.monotonic()
    try:
        async with http.session.post(
            svc.registration.url + "/_matrix/app/v1/ping",
            json=body,
            headers=http.headers(svc),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            text = await resp.text(errors="replace")
            status = resp.status
    except TimeoutError as e:
        raise MatrixError("Ping timed out", code=Codes.CONNECTION_TIMEOUT) from e
    except (aiohttp.ClientError, OSError) as e:
        raise MatrixError(f"Ping failed: {e}", code=Codes.CONNECTION_FAILED) from e
    if status != 200:
        err = MatrixError(f"Ping returned status {status}", code=Codes.BAD_STATUS)
        # ``status`` here is the appservice's answer, not ours (which is 502).
        err.extra.update(status=status, body=text[:_BODY_ECHO_MAX])
        raise err
    return max(0, int((clock.monotonic() - start) * 1000))
