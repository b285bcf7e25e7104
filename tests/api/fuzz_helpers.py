"""Random JSON values and the route-table fuzzer for the never-500 tests.

``RouteFuzzer`` sends requests to any row of the route table
(``homeserver.api.routing.all_routes``), with path parameters filled with
values that exist (a room the admin is in, an event in it, a victim user), so
that bad bodies and query strings reach the handler's own parsing. Every
request is bounded by a timeout, and every answer is checked: below 500, and
every 4xx carries a JSON body with a string ``errcode`` (a user-interactive
auth challenge carries ``flows`` instead).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import strategies as st
from yarl import URL

from homeserver.api.routing import Route
from tests.api.helpers import auth_header, login, register_user, services_of

Client = TestClient[Any, Any]

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)

#: A request that takes longer than this counts as a hang.
REQUEST_TIMEOUT_S = 15.0

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_BODY_KEY = re.compile(r'(?:\(body, |body\.get\(|body\[|content\.get\()"([^"]+)"')
_QUERY_KEY = re.compile(
    r'(?:query_\w+\(request, |query\.get\(|query\.getall\(|query\[|"in request\.query)"([^"]+)"'
)

#: Keys many request bodies read; tried on every route besides the ones its
#: handler names.
COMMON_BODY_KEYS = (
    "body",
    "msgtype",
    "displayname",
    "avatar_url",
    "user_id",
    "room_id",
    "name",
    "topic",
    "type",
    "content",
    "reason",
    "device_id",
    "state_key",
    "event_id",
    "timeout",
    "limit",
    "ts",
)
#: Query parameters paged or long-polling endpoints read.
COMMON_QUERY_KEYS = ("limit", "from", "timeout", "dir")


def route_params(route: Route) -> list[str]:
    """The names of a route's path parameters, in order."""
    return _PARAM.findall(route.path)


def fill_path(route: Route, values: dict[str, str]) -> str:
    """The route's path with each parameter replaced by its (already
    percent-encoded) value."""
    return _PARAM.sub(lambda m: values[m.group(1)], route.path)


def _handler_source(route: Route) -> str:
    try:
        return inspect.getsource(route.handler)
    except (OSError, TypeError):
        return ""


def body_keys(route: Route) -> list[str]:
    """Keys the route's handler reads from its body, then the common ones."""
    named = _BODY_KEY.findall(_handler_source(route))
    return list(dict.fromkeys([*named, *COMMON_BODY_KEYS]))


def query_keys(route: Route) -> list[str]:
    """Query parameters the route's handler reads, then the common ones."""
    named = _QUERY_KEY.findall(_handler_source(route))
    return list(dict.fromkeys([*named, *COMMON_QUERY_KEYS]))


def has_body(route: Route) -> bool:
    return route.method in ("POST", "PUT", "DELETE", "PATCH")


@dataclass
class Answer:
    """What came back for one request; ``problem`` is None when acceptable."""

    what: str
    status: int
    problem: str | None


def check_answer(status: int, raw: bytes) -> str | None:
    """None when the answer is acceptable, else what is wrong with it."""
    if status >= 500:
        return f"server error {status}: {raw[:300]!r}"
    if status < 400:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return f"{status} without a JSON body: {raw[:200]!r}"
    if not isinstance(body, dict):
        return f"{status} with a non-object body: {raw[:200]!r}"
    if status == 401 and "flows" in body:
        return None
    if not isinstance(body.get("errcode"), str):
        return f"{status} without a string errcode: {raw[:200]!r}"
    return None


@dataclass
class RouteFuzzer:
    """A running server with an admin, a victim user and a room to aim at."""

    client: Client
    server_name: str
    admin_token: str = ""
    admin_id: str = ""
    victim_id: str = ""
    room_id: str = ""
    event_id: str = ""
    _admins: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _txns: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    async def start(cls, client: Client) -> RouteFuzzer:
        fuzzer = cls(client, services_of(client).config.server_name)
        await fuzzer._new_admin()
        fuzzer.victim_id = (await register_user(client, "victim"))["user_id"]
        headers = auth_header(fuzzer.admin_token)
        resp = await client.post(
            "/_matrix/client/v3/createRoom", json={"name": "fuzz"}, headers=headers
        )
        assert resp.status == 200, await resp.text()
        fuzzer.room_id = (await resp.json())["room_id"]
        resp = await client.put(
            f"/_matrix/client/v3/rooms/{fuzzer.room_id}/send/m.room.message/seed",
            json={"msgtype": "m.text", "body": "seed"},
            headers=headers,
        )
        assert resp.status == 200, await resp.text()
        fuzzer.event_id = (await resp.json())["event_id"]
        return fuzzer

    async def _new_admin(self) -> None:
        # A route may log the admin out or deactivate, lock or suspend it;
        # the run goes on with a fresh one.
        localpart = f"root{next(self._admins)}"
        self.admin_id = await services_of(self.client).registration.register_user(
            localpart, "password-123", admin=True
        )
        self.admin_token = (await login(self.client, localpart))["access_token"]

    def path_values(self, route: Route) -> dict[str, str]:
        """Values that exist for every path parameter, percent-encoded."""
        own = route.resource != "admin"
        values = {
            "roomId": self.room_id,
            "roomIdOrAlias": self.room_id,
            "userId": self.admin_id if own else self.victim_id,
            "eventId": self.event_id,
            "serverName": self.server_name,
            "destination": self.server_name,
            "roomAlias": f"#fuzz:{self.server_name}",
            "txnId": f"fuzz{next(self._txns)}",
            "stateKey": "",
            "eventType": "org.example.fuzz",
            "type": "org.example.fuzz",
            "kind": "override",
            "ruleId": "org.example.fuzz",
            "keyName": "displayname",
            "version": "1",
            "reportId": "1",
            "relType": "m.thread",
            "tag": "u.fuzz",
            "medium": "email",
            "receiptType": "m.read",
            "filterId": "0",
        }
        out = {}
        for name in route_params(route):
            out[name] = quote(values.get(name, "fuzz"), safe="")
        return out

    async def send(
        self,
        route: Route,
        *,
        authed: bool,
        path: str | None = None,
        query: str = "",
        data: bytes | None = None,
        what: str = "",
    ) -> Answer:
        """Sends one request (path and query already percent-encoded) and
        checks the answer; a revoked admin is replaced and the request sent again."""
        target = path if path is not None else fill_path(route, self.path_values(route))
        url = target + (f"?{query}" if query else "")
        description = f"{route.method} {url[:200]} {what} ({'admin' if authed else 'anonymous'})"
        for _ in range(3):
            headers = auth_header(self.admin_token) if authed else {}
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    resp = await self.client.request(
                        route.method, URL(url, encoded=True), data=data, headers=headers
                    )
                    raw = await resp.read()
            except TimeoutError:
                return Answer(description, 0, f"no answer within {REQUEST_TIMEOUT_S} s")
            if authed and resp.status in (401, 403) and await self._admin_revoked():
                await self._new_admin()
                continue
            return Answer(description, resp.status, check_answer(resp.status, raw))
        return Answer(description, resp.status, check_answer(resp.status, raw))

    async def _admin_revoked(self) -> bool:
        resp = await self.client.get(
            "/_matrix/client/v3/account/whoami", headers=auth_header(self.admin_token)
        )
        return resp.status != 200
