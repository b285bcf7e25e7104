"""The Application Service API server: what the homeserver calls on us.

- ``PUT /_matrix/app/v1/transactions/{txnId}``: events for us. A transaction
  already handled (recorded in the state store, so this survives restarts) is
  acknowledged again without being handled twice.
- ``GET /_matrix/app/v1/users/{userId}`` and ``GET /_matrix/app/v1/rooms/{roomAlias}``:
  "does this exist on your side?" (200 ``{}`` or 404).
- ``POST /_matrix/app/v1/ping``: the homeserver checking that we are reachable.

Every request must carry the ``hs_token`` as ``Authorization: Bearer``
(spec v1.4; the legacy ``access_token`` query parameter is also accepted).
Missing credentials get 401, wrong ones 403, as the spec's AS API says.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from appservices.framework.state_store import StateStore

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
PREFIX = "/_matrix/app/v1"


class AppserviceHandler(Protocol):
    async def handle_transaction(self, txn_id: str, events: list[JsonDict], body: JsonDict) -> None:
        """Handles the events of one transaction (called once per transaction id)."""

    async def query_user(self, user_id: str) -> bool:
        """Whether the user exists on our side (it has then been created)."""

    async def query_alias(self, alias: str) -> bool:
        """Whether the alias exists on our side (the room has then been created)."""


def _error(status: int, errcode: str, message: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": message}, status=status)


class Transport:
    """The AS API routes, bound to one ``hs_token``, store and handler."""

    def __init__(
        self, hs_token: str, store: Callable[[], StateStore], handler: AppserviceHandler
    ) -> None:
        """``store`` is called per request: the store is opened after the routes exist."""
        self._hs_token = hs_token
        self._store = store
        self._handler = handler
        # The homeserver sends one transaction at a time, but a retry may race
        # the original; handling them one by one keeps de-duplication exact.
        self._lock = asyncio.Lock()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_put(PREFIX + "/transactions/{txnId}", self.put_transaction)
        app.router.add_get(PREFIX + "/users/{userId}", self.get_user)
        app.router.add_get(PREFIX + "/rooms/{roomAlias}", self.get_room_alias)
        app.router.add_post(PREFIX + "/ping", self.post_ping)

    def _refusal(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token: str | None = None
        if header.startswith("Bearer "):
            token = header.removeprefix("Bearer ")
        elif "access_token" in request.query:
            token = request.query["access_token"]
        if token is None:
            return _error(401, "M_UNAUTHORIZED", "missing hs_token")
        if not hmac.compare_digest(token.encode(), self._hs_token.encode()):
            logger.warning("refused a request with a wrong hs_token from %s", request.remote)
            return _error(403, "M_FORBIDDEN", "bad hs_token")
        return None

    async def _json_object(self, request: web.Request) -> JsonDict | web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return _error(400, "M_NOT_JSON", "body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "M_BAD_JSON", "body must be a JSON object")
        return body

    async def put_transaction(self, request: web.Request) -> web.Response:
        """PUT /_matrix/app/v1/transactions/{txnId}

        https://spec.matrix.org/v1.19/application-service-api/#put_matrixappv1transactionstxnid

        - 200 ``{}`` once handled, or at once when already handled.
        - 400 when ``events`` is not a list of objects.
        """
        refused = self._refusal(request)
        if refused is not None:
            return refused
        body = await self._json_object(request)
        if isinstance(body, web.Response):
            return body
        events = body.get("events", [])
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            return _error(400, "M_BAD_JSON", "events must be a list of objects")
        txn_id = request.match_info["txnId"]
        async with self._lock:
            if await self._store().is_handled("txn", txn_id):
                logger.debug("transaction %s already handled", txn_id)
                return web.json_response({})
            await self._handler.handle_transaction(txn_id, events, body)
            await self._store().mark_handled("txn", txn_id)
        return web.json_response({})

    async def get_user(self, request: web.Request) -> web.Response:
        """GET /_matrix/app/v1/users/{userId}

        https://spec.matrix.org/v1.19/application-service-api/#get_matrixappv1usersuserid
        """
        return await self._query(request, self._handler.query_user, "userId", "user")

    async def get_room_alias(self, request: web.Request) -> web.Response:
        """GET /_matrix/app/v1/rooms/{roomAlias}

        https://spec.matrix.org/v1.19/application-service-api/#get_matrixappv1roomsroomalias
        """
        return await self._query(request, self._handler.query_alias, "roomAlias", "room alias")

    async def _query(
        self,
        request: web.Request,
        ask: Callable[[str], Awaitable[bool]],
        key: str,
        what: str,
    ) -> web.Response:
        """A homeserver's query about an id: 200 ``{}`` when the handler
        made it exist, else 404 M_NOT_FOUND."""
        refused = self._refusal(request)
        if refused is not None:
            return refused
        if await ask(request.match_info[key]):
            return web.json_response({})
        return _error(404, "M_NOT_FOUND", f"no such {what}")

    async def post_ping(self, request: web.Request) -> web.Response:
        """POST /_matrix/app/v1/ping

        https://spec.matrix.org/v1.19/application-service-api/#post_matrixappv1ping
        """
        refused = self._refusal(request)
        if refused is not None:
            return refused
        body = await self._json_object(request)
        if isinstance(body, web.Response):
            return body
        return web.json_response({})
