"""A fake CRM's REST API on 127.0.0.1 that records the calls it gets."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

API_TOKEN = "crm-api-token"


class FakeCrm:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.records: dict[str, dict[str, Any]] = {
            "L-7": {"id": "L-7", "type": "lead", "title": "Big Co", "status": "new"}
        }
        self.notes: dict[str, list[dict[str, Any]]] = {}
        app = web.Application()
        app.router.add_get("/api/records/{id}", self._get_record)
        app.router.add_post("/api/records/{id}/notes", self._add_note)
        self.server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self.server.start_server()

    async def close(self) -> None:
        await self.server.close()

    @property
    def api_url(self) -> str:
        return str(self.server.make_url("/api"))

    def _check(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {API_TOKEN}":
            raise web.HTTPUnauthorized()

    async def _get_record(self, request: web.Request) -> web.Response:
        self._check(request)
        record_id = request.match_info["id"]
        self.calls.append(("GET", request.path, None))
        if record_id not in self.records:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(self.records[record_id])

    async def _add_note(self, request: web.Request) -> web.Response:
        self._check(request)
        record_id = request.match_info["id"]
        body = await request.json()
        self.calls.append(("POST", request.path, body))
        if record_id not in self.records:
            return web.json_response({"error": "not found"}, status=404)
        notes = self.notes.setdefault(record_id, [])
        notes.append(body)
        return web.json_response({"id": f"n-{len(notes)}"}, status=201)
