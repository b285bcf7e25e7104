"""A typed Client-Server API client for an application service.

Every request carries the ``as_token``. ``as_user(user_id)`` returns a client
that masquerades as one of our namespace's users (``?user_id=``, spec
"Identity assertion"); the bot itself needs no ``user_id``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

JsonDict = dict[str, Any]

V3 = "/_matrix/client/v3"


class MatrixRequestError(Exception):
    """The homeserver answered with an error (or something that is not JSON)."""

    def __init__(self, status: int, errcode: str, message: str) -> None:
        super().__init__(f"{status} {errcode}: {message}")
        self.status = status
        self.errcode = errcode
        self.message = message


@dataclass(frozen=True, slots=True)
class SentEvent:
    event_id: str


def _q(value: str) -> str:
    return quote(value, safe="")


class MatrixClient:
    """The C-S API as ``as_token`` holder, optionally asserting one ``user_id``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        as_token: str,
        user_id: str | None = None,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self._as_token = as_token
        self.user_id = user_id

    def as_user(self, user_id: str | None) -> MatrixClient:
        """A client acting as ``user_id`` (None: the appservice's sender)."""
        return MatrixClient(self.session, self.base_url, self._as_token, user_id)

    async def request(
        self,
        method: str,
        path: str,
        body: JsonDict | None = None,
        params: dict[str, str] | None = None,
    ) -> JsonDict:
        """Sends one request; returns the JSON object answer.

        Raises:
            MatrixRequestError: a non-2xx answer or a body that is not a JSON object.
            aiohttp.ClientError: the request failed on the way.
        """
        query = dict(params or {})
        if self.user_id is not None:
            query["user_id"] = self.user_id
        async with self.session.request(
            method,
            self.base_url + path,
            json=body,
            params=query,
            headers={"Authorization": f"Bearer {self._as_token}"},
        ) as resp:
            text = await resp.text()
            try:
                data = json.loads(text) if text else {}
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise MatrixRequestError(resp.status, "M_NOT_JSON", "answer is not a JSON object")
            if resp.status >= 300:
                raise MatrixRequestError(
                    resp.status, str(data.get("errcode", "M_UNKNOWN")), str(data.get("error", ""))
                )
            return data

    # Account

    async def whoami(self) -> str:
        """GET /account/whoami: the user ID the homeserver sees."""
        data = await self.request("GET", V3 + "/account/whoami")
        return str(data["user_id"])

    async def register_appservice_user(self, localpart: str) -> str:
        """POST /register with ``m.login.application_service`` (no device, no token).

        Raises:
            MatrixRequestError: ``M_USER_IN_USE`` when it exists, ``M_EXCLUSIVE``
                outside our namespace.
        """
        body = {"type": "m.login.application_service", "username": localpart}
        data = await self.request("POST", V3 + "/register", body, {"inhibit_login": "true"})
        return str(data["user_id"])

    async def set_displayname(self, user_id: str, displayname: str) -> None:
        path = f"{V3}/profile/{_q(user_id)}/displayname"
        await self.request("PUT", path, {"displayname": displayname})

    # Rooms

    async def create_room(self, **body: Any) -> str:
        data = await self.request("POST", V3 + "/createRoom", body)
        return str(data["room_id"])

    async def join_room(self, room_id_or_alias: str) -> str:
        data = await self.request("POST", f"{V3}/join/{_q(room_id_or_alias)}", {})
        return str(data["room_id"])

    async def leave_room(self, room_id: str) -> None:
        await self.request("POST", f"{V3}/rooms/{_q(room_id)}/leave", {})

    async def invite_user(self, room_id: str, user_id: str) -> None:
        await self.request("POST", f"{V3}/rooms/{_q(room_id)}/invite", {"user_id": user_id})

    async def joined_members(self, room_id: str) -> list[str]:
        data = await self.request("GET", f"{V3}/rooms/{_q(room_id)}/joined_members")
        joined = data.get("joined", {})
        return sorted(joined) if isinstance(joined, dict) else []

    async def get_state_event(self, room_id: str, event_type: str, state_key: str = "") -> JsonDict:
        path = f"{V3}/rooms/{_q(room_id)}/state/{_q(event_type)}/{_q(state_key)}"
        return await self.request("GET", path)

    async def send_state_event(
        self, room_id: str, event_type: str, content: JsonDict, state_key: str = ""
    ) -> SentEvent:
        path = f"{V3}/rooms/{_q(room_id)}/state/{_q(event_type)}/{_q(state_key)}"
        data = await self.request("PUT", path, content)
        return SentEvent(str(data["event_id"]))

    async def send_event(
        self,
        room_id: str,
        event_type: str,
        content: JsonDict,
        *,
        txn_id: str | None = None,
        ts: int | None = None,
    ) -> SentEvent:
        """PUT /rooms/{roomId}/send/{eventType}/{txnId}.

        Args:
            txn_id: the idempotency key; a random one when None.
            ts: the event's ``origin_server_ts`` (appservices only), e.g. the
                time the remote network saw the message.
        """
        txn = txn_id or secrets.token_hex(12)
        path = f"{V3}/rooms/{_q(room_id)}/send/{_q(event_type)}/{_q(txn)}"
        params = {"ts": str(ts)} if ts is not None else None
        data = await self.request("PUT", path, content, params)
        return SentEvent(str(data["event_id"]))

    async def messages(self, room_id: str, limit: int = 20) -> list[JsonDict]:
        """GET /rooms/{roomId}/messages backwards from the end: newest first."""
        data = await self.request(
            "GET", f"{V3}/rooms/{_q(room_id)}/messages", params={"dir": "b", "limit": str(limit)}
        )
        chunk = data.get("chunk", [])
        return [e for e in chunk if isinstance(e, dict)]

    async def set_typing(self, room_id: str, typing: bool, timeout_ms: int = 30000) -> None:
        who = self.user_id or await self.whoami()
        body: JsonDict = {"typing": typing}
        if typing:
            body["timeout"] = timeout_ms
        await self.request("PUT", f"{V3}/rooms/{_q(room_id)}/typing/{_q(who)}", body)
