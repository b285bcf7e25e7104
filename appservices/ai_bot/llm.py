"""LLM providers: a protocol, and a client for OpenAI-compatible servers.

``POST {base_url}/chat/completions`` with ``{"model", "messages", "stream"}``.
A streamed answer is Server-Sent Events: ``data: {json chunk}`` lines whose
``choices[0].delta.content`` are the pieces, ending with ``data: [DONE]``.
An answer that is not streamed is one JSON object with
``choices[0].message.content``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import aiohttp

from appservices.ai_bot.context import ChatMessage

logger = logging.getLogger(__name__)


class LLMError(Exception):
    """The LLM server failed; the message is safe to show in a room."""


class LLMProvider(Protocol):
    def stream_chat(self, messages: list[ChatMessage]) -> AsyncIterator[str]:
        """Yields the answer in pieces (one piece when the server doesn't stream).

        Raises:
            LLMError: the server failed or answered something unusable.
        """
        ...


def _piece(chunk: Any, key: str) -> str:
    try:
        choice = chunk["choices"][0]
        value = choice[key].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


class OpenAICompatible:
    """Any server speaking OpenAI's chat-completions API (hosted or self-hosted)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        stream: bool = True,
        timeout_s: float = 120,
        max_tokens: int | None = None,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._api_key = api_key
        self._stream = stream
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_tokens = max_tokens

    async def stream_chat(self, messages: list[ChatMessage]) -> AsyncIterator[str]:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": self._stream,
        }
        if self._max_tokens is not None:
            body["max_tokens"] = self._max_tokens
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            async with self._session.post(
                self._url, json=body, headers=headers, timeout=self._timeout
            ) as resp:
                if resp.status != 200:
                    logger.warning("LLM server answered HTTP %d", resp.status)
                    raise LLMError(f"the language model server answered HTTP {resp.status}")
                if resp.content_type == "text/event-stream":
                    async for piece in self._sse_pieces(resp):
                        yield piece
                    return
                try:
                    data = await resp.json(content_type=None)
                except ValueError as e:
                    raise LLMError("the language model server sent something unreadable") from e
                text = _piece(data, "message")
                if not text:
                    raise LLMError("the language model server sent an empty answer")
                yield text
        except (aiohttp.ClientError, TimeoutError) as e:
            logger.warning("LLM server unreachable: %s", type(e).__name__)
            raise LLMError("the language model server could not be reached") from e

    @staticmethod
    async def _sse_pieces(resp: aiohttp.ClientResponse) -> AsyncIterator[str]:
        async for raw in resp.content:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue  # comments, event:/id: fields, blank separators
            data = line.removeprefix("data:").strip()
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                logger.warning("LLM server sent a chunk that is not JSON")
                continue
            if isinstance(chunk, dict) and "error" in chunk:
                raise LLMError("the language model server failed while answering")
            piece = _piece(chunk, "delta")
            if piece:
                yield piece
