"""A tiny appservice for tests: a real aiohttp server on 127.0.0.1 that
records what the homeserver pushes and answers queries and pings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

AS_TOKEN = "as-token-bridge"
HS_TOKEN = "hs-token-bridge"


class FakeBridge:
    def __init__(self) -> None:
        #: (txn_id, body) of every transaction accepted, in arrival order
        self.txns: list[tuple[str, dict[str, Any]]] = []
        #: answer 503 to transactions while True
        self.down = False
        self.attempts = 0
        self.pings: list[dict[str, Any]] = []
        self.ping_status = 200
        self.ping_delay_s = 0.0
        self.bad_auth = 0
        self.changed = asyncio.Event()
        app = web.Application()
        app.router.add_put("/_matrix/app/v1/transactions/{txnId}", self._txn)
        app.router.add_post("/_matrix/app/v1/ping", self._ping)
        self.server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self.server.start_server()

    async def close(self) -> None:
        await self.server.close()

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def _authorised(self, request: web.Request) -> bool:
        ok = request.headers.get("Authorization") == f"Bearer {HS_TOKEN}"
        if not ok:
            self.bad_auth += 1
        return ok

    async def _txn(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self.changed.set()
        if not self._authorised(request):
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        if self.down:
            return web.json_response({"errcode": "M_UNKNOWN"}, status=503)
        txn_id = request.match_info["txnId"]
        if all(t != txn_id for t, _ in self.txns):
            self.txns.append((txn_id, await request.json()))
            self.changed.set()
        return web.json_response({})

    async def _ping(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        self.pings.append(await request.json())
        if self.ping_delay_s:
            await asyncio.sleep(self.ping_delay_s)
        return web.json_response({}, status=self.ping_status)

    def events(self) -> list[dict[str, Any]]:
        return [e for _, body in self.txns for e in body.get("events", [])]

    async def wait_for(self, predicate: Any) -> None:
        """Waits (up to 10 s) until ``predicate(self)`` holds."""

        async def loop() -> None:
            while not predicate(self):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), 10.0)


def registration(url: str | None, /, **overrides: Any) -> dict[str, Any]:
    reg: dict[str, Any] = {
        "id": "bridge",
        "url": url,
        "as_token": AS_TOKEN,
        "hs_token": HS_TOKEN,
        "sender_localpart": "bridgebot",
        "namespaces": {
            "users": [{"exclusive": True, "regex": "@bridge_.*:test.local"}],
            "aliases": [{"exclusive": False, "regex": "#bridge_.*:test.local"}],
            "rooms": [],
        },
        "rate_limited": False,
    }
    reg.update(overrides)
    return reg


def write_registration(tmp_path: Path, reg: dict[str, Any], name: str = "bridge.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(reg), encoding="utf-8")
    return str(path)
