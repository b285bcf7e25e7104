"""A small client for the Matrix client-server API, enough to drive a benchmark.

It speaks plain HTTP to ``/_matrix/...`` and nothing server-specific, except the
shared-secret registration endpoint ``/_synapse/admin/v1/register`` that both
servers under test offer (it falls back to ``/register`` with
``m.login.dummy``).

Every failure is raised as :class:`RequestFailed`, which names the method,
the path template, the status and the errcode, so a scenario can report it
instead of crashing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

JsonDict = dict[str, Any]

CLIENT_V3 = "/_matrix/client/v3"


class RequestFailed(Exception):
    """A request answered with a non-2xx status, bad JSON, or not at all."""

    def __init__(
        self, method: str, what: str, status: int | None, errcode: str, error: str
    ) -> None:
        self.method = method
        self.what = what
        self.status = status
        self.errcode = errcode
        self.error = error
        shown = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{method} {what}: {shown} {errcode} {error}".strip())

    @property
    def unimplemented(self) -> bool:
        """True when the server does not know the endpoint (404/405 M_UNRECOGNIZED)."""
        return self.status in (404, 405) and self.errcode in ("M_UNRECOGNIZED", "", "M_NOT_FOUND")


def _q(part: str) -> str:
    return quote(part, safe="")


def new_txn_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class Http:
    """Base URL plus a shared aiohttp session (one connection pool for all users)."""

    session: aiohttp.ClientSession
    base_url: str
    #: Default timeout of a request, in seconds (a long-poll adds its own timeout).
    timeout_s: float = 60.0

    async def exchange(
        self,
        method: str,
        path: str,
        *,
        what: str,
        token: str | None = None,
        body: JsonDict | None = None,
        params: dict[str, str] | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        timeout_s: float | None = None,
    ) -> tuple[int, bytes]:
        """Sends one request; returns the status and the body, whatever the status."""
        headers: dict[str, str] = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if content_type is not None:
            headers["Content-Type"] = content_type
        payload: bytes | None = data
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        timeout = aiohttp.ClientTimeout(
            total=timeout_s if timeout_s is not None else self.timeout_s
        )
        try:
            async with self.session.request(
                method,
                self.base_url + path,
                data=payload,
                params=params,
                headers=headers,
                timeout=timeout,
            ) as resp:
                return resp.status, await resp.read()
        except TimeoutError as exc:
            raise RequestFailed(method, what, None, "TIMEOUT", "request timed out") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise RequestFailed(method, what, None, type(exc).__name__, str(exc)) from exc

    async def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        token: str | None = None,
        body: JsonDict | None = None,
        params: dict[str, str] | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        timeout_s: float | None = None,
        raw: bool = False,
    ) -> Any:
        """Sends one request; returns the JSON body (or the bytes when ``raw``).

        Raises:
            RequestFailed: on a status >= 300, no answer, or a body that is not JSON.
        """
        status, content = await self.exchange(
            method,
            path,
            what=what,
            token=token,
            body=body,
            params=params,
            data=data,
            content_type=content_type,
            timeout_s=timeout_s,
        )
        if status >= 300:
            errcode, error = _error_of(content)
            raise RequestFailed(method, what, status, errcode, error)
        if raw:
            return content
        try:
            return json.loads(content)
        except ValueError as exc:
            raise RequestFailed(
                method, what, status, "NOT_JSON", content[:200].decode(errors="replace")
            ) from exc


def _error_of(content: bytes) -> tuple[str, str]:
    try:
        parsed = json.loads(content)
    except ValueError:
        return "", content[:200].decode(errors="replace")
    if isinstance(parsed, dict):
        return str(parsed.get("errcode", "")), str(parsed.get("error", ""))[:300]
    return "", ""


@dataclass(slots=True)
class Account:
    user_id: str
    access_token: str
    device_id: str


async def register(http: Http, username: str, password: str, shared_secret: str | None) -> Account:
    """Creates an account: shared-secret admin registration, else /register (m.login.dummy)."""
    if shared_secret is not None:
        try:
            return await _register_shared_secret(http, username, password, shared_secret)
        except RequestFailed as exc:
            if not exc.unimplemented:
                raise
    return await _register_dummy(http, username, password)


async def _register_shared_secret(http: Http, username: str, password: str, secret: str) -> Account:
    path = "/_synapse/admin/v1/register"
    what = "/_synapse/admin/v1/register"
    nonce_body = await http.call("GET", path, what=what)
    nonce = str(nonce_body["nonce"])
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    for i, part in enumerate((nonce, username, password, "notadmin")):
        if i:
            mac.update(b"\x00")
        mac.update(part.encode())
    body = {
        "nonce": nonce,
        "username": username,
        "password": password,
        "admin": False,
        "mac": mac.hexdigest(),
    }
    got = await http.call("POST", path, what=what, body=body)
    return Account(str(got["user_id"]), str(got["access_token"]), str(got.get("device_id", "")))


async def _register_dummy(http: Http, username: str, password: str) -> Account:
    path = f"{CLIENT_V3}/register"
    what = "/register"
    body: JsonDict = {"username": username, "password": password, "inhibit_login": False}
    status, content = await http.exchange("POST", path, what=what, body=body)
    if status == 401:
        # User-interactive auth: the 401 names a session; answer with m.login.dummy.
        try:
            session = json.loads(content).get("session")
        except (ValueError, AttributeError):
            session = None
        if not isinstance(session, str):
            raise RequestFailed("POST", what, 401, "NO_SESSION", "401 without a UIA session")
        body["auth"] = {"type": "m.login.dummy", "session": session}
        got = await http.call("POST", path, what=what, body=body)
    elif status >= 300:
        raise RequestFailed("POST", what, status, *_error_of(content))
    else:
        got = json.loads(content)
    return Account(str(got["user_id"]), str(got["access_token"]), str(got.get("device_id", "")))


@dataclass(slots=True)
class User:
    """A logged-in user: every call of the scenarios goes through here."""

    http: Http
    account: Account
    txn_prefix: str = field(default_factory=new_txn_id)
    _txn: int = 0

    @property
    def user_id(self) -> str:
        return self.account.user_id

    @property
    def token(self) -> str:
        return self.account.access_token

    def _next_txn(self) -> str:
        self._txn += 1
        return f"{self.txn_prefix}.{self._txn}"

    async def create_room(
        self,
        *,
        preset: str = "private_chat",
        name: str | None = None,
        invite: list[str] | None = None,
    ) -> str:
        body: JsonDict = {"preset": preset}
        if name is not None:
            body["name"] = name
        if invite:
            body["invite"] = invite
        got = await self.http.call(
            "POST", f"{CLIENT_V3}/createRoom", what="/createRoom", token=self.token, body=body
        )
        return str(got["room_id"])

    async def join(self, room_id: str) -> str:
        got = await self.http.call(
            "POST",
            f"{CLIENT_V3}/join/{_q(room_id)}",
            what="/join/{roomIdOrAlias}",
            token=self.token,
            body={},
        )
        return str(got["room_id"])

    async def send_text(self, room_id: str, text: str) -> str:
        """PUT /rooms/{roomId}/send/m.room.message/{txnId}; returns the event id."""
        txn = self._next_txn()
        got = await self.http.call(
            "PUT",
            f"{CLIENT_V3}/rooms/{_q(room_id)}/send/m.room.message/{_q(txn)}",
            what="/rooms/{roomId}/send/{eventType}/{txnId}",
            token=self.token,
            body={"msgtype": "m.text", "body": text},
        )
        return str(got["event_id"])

    async def sync(self, since: str | None = None, timeout_ms: int = 0) -> JsonDict:
        params = {"timeout": str(timeout_ms)}
        if since is not None:
            params["since"] = since
        got = await self.http.call(
            "GET",
            f"{CLIENT_V3}/sync",
            what="/sync",
            token=self.token,
            params=params,
            timeout_s=self.http.timeout_s + timeout_ms / 1000,
        )
        if not isinstance(got, dict) or not isinstance(got.get("next_batch"), str):
            raise RequestFailed(
                "GET", "/sync", 200, "BAD_RESPONSE", "no next_batch in the response"
            )
        return got

    async def messages(
        self, room_id: str, *, limit: int, direction: str = "b", from_token: str | None = None
    ) -> JsonDict:
        params = {"dir": direction, "limit": str(limit)}
        if from_token is not None:
            params["from"] = from_token
        got = await self.http.call(
            "GET",
            f"{CLIENT_V3}/rooms/{_q(room_id)}/messages",
            what="/rooms/{roomId}/messages",
            token=self.token,
            params=params,
        )
        if not isinstance(got, dict):
            raise RequestFailed(
                "GET", "/rooms/{roomId}/messages", 200, "BAD_RESPONSE", "not an object"
            )
        return got

    async def joined_members(self, room_id: str) -> set[str]:
        got = await self.http.call(
            "GET",
            f"{CLIENT_V3}/rooms/{_q(room_id)}/joined_members",
            what="/rooms/{roomId}/joined_members",
            token=self.token,
        )
        return set(got.get("joined", {}))

    async def upload(self, data: bytes, content_type: str = "application/octet-stream") -> str:
        """POST /_matrix/media/v3/upload; returns the mxc:// URI."""
        got = await self.http.call(
            "POST",
            "/_matrix/media/v3/upload",
            what="/_matrix/media/v3/upload",
            token=self.token,
            data=data,
            content_type=content_type,
            params={"filename": "bench.bin"},
            timeout_s=300,
        )
        return str(got["content_uri"])

    async def download(self, mxc: str) -> bytes:
        """GET /_matrix/client/v1/media/download/{serverName}/{mediaId} (authenticated media)."""
        if not mxc.startswith("mxc://"):
            raise RequestFailed(
                "POST", "/_matrix/media/v3/upload", 200, "BAD_RESPONSE", f"not an mxc URI: {mxc}"
            )
        server, _, media_id = mxc[len("mxc://") :].partition("/")
        data: bytes = await self.http.call(
            "GET",
            f"/_matrix/client/v1/media/download/{_q(server)}/{_q(media_id)}",
            what="/_matrix/client/v1/media/download/{serverName}/{mediaId}",
            token=self.token,
            timeout_s=300,
            raw=True,
        )
        return data


def timeline_events(sync_body: JsonDict, room_id: str | None = None) -> list[tuple[str, JsonDict]]:
    """The (room id, event) pairs in the joined rooms' timelines of a /sync answer."""
    out: list[tuple[str, JsonDict]] = []
    joined = sync_body.get("rooms", {}).get("join", {})
    if not isinstance(joined, dict):
        return out
    for rid, room in joined.items():
        if room_id is not None and rid != room_id:
            continue
        events = room.get("timeline", {}).get("events", []) if isinstance(room, dict) else []
        out.extend((rid, ev) for ev in events if isinstance(ev, dict))
    return out


async def wait_until_up(http: Http, deadline_s: float) -> None:
    """Polls GET /_matrix/client/versions until it answers 200 or the deadline passes."""
    import asyncio

    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            await http.call("GET", "/_matrix/client/versions", what="/versions", timeout_s=2)
            return
        except RequestFailed as exc:
            last = exc
        await asyncio.sleep(0.2)
    raise TimeoutError(f"server not up after {deadline_s:.0f}s: {last}")
