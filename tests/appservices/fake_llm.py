"""A fake OpenAI-compatible chat-completions server (no model: canned answers).

Streams the answer as Server-Sent Events in ``chunk_size``-character pieces,
or answers in one JSON object when the request says ``stream: false``, and
records every request so tests can check the context the bot sent.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


class FakeLlm:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer = "The capital of France is Paris, a city on the Seine."
        self.chunk_size = 12
        #: answer with this HTTP status instead when set
        self.fail_status: int | None = None
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self.server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self.server.start_server()

    async def close(self) -> None:
        await self.server.close()

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("/v1"))

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.fail_status is not None:
            return web.json_response({"error": {"message": "overloaded"}}, status=self.fail_status)
        if not body.get("stream"):
            message = {"role": "assistant", "content": self.answer}
            return web.json_response({"choices": [{"index": 0, "message": message}]})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for start in range(0, len(self.answer), self.chunk_size):
            piece = self.answer[start : start + self.chunk_size]
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
