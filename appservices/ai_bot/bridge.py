"""The assistant bot: when to answer, and streaming the answer in by edits."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from appservices.ai_bot.config import AiBotConfig
from appservices.ai_bot.context import ChatMessage, RoomContexts
from appservices.ai_bot.llm import LLMError, LLMProvider, OpenAICompatible
from appservices.framework.bridge import Bridge
from appservices.framework.client import JsonDict

logger = logging.getLogger(__name__)

ERROR_TEXT = "Sorry, I can't answer right now: {reason}. Please try again in a moment."


class AiBot(Bridge):
    def __init__(
        self,
        config: AiBotConfig,
        *,
        provider: LLMProvider | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``provider`` replaces the configured OpenAI-compatible server when given."""
        super().__init__(config)
        self.ai = config.ai
        self.contexts = RoomContexts(config.ai.context_messages)
        self._provider = provider
        self._monotonic = monotonic
        self._llm_session: aiohttp.ClientSession | None = None
        self._room_locks: dict[str, asyncio.Lock] = {}
        localpart = config.appservice.bot_localpart
        names = {localpart, config.ai.display_name, self.bot_user_id}
        self._mention = re.compile(
            "|".join(rf"(?<!\w){re.escape(n)}(?!\w)" for n in sorted(names, key=len, reverse=True)),
            re.IGNORECASE,
        )

    @property
    def provider(self) -> LLMProvider:
        assert self._provider is not None, "the bot is not started"
        return self._provider

    async def start(self) -> None:
        await self.bot.set_displayname(self.ai.display_name)
        if self._provider is None:
            self._llm_session = aiohttp.ClientSession()
            self._provider = OpenAICompatible(
                self._llm_session,
                self.ai.base_url,
                self.ai.model,
                api_key=self.ai.api_key,
                stream=self.ai.stream,
                timeout_s=self.ai.request_timeout_s,
                max_tokens=self.ai.max_tokens,
            )

    async def stop(self) -> None:
        if self._llm_session is not None:
            await self._llm_session.close()

    def is_mention(self, content: JsonDict, body: str) -> bool:
        mentions = content.get("m.mentions")
        if isinstance(mentions, dict):
            user_ids = mentions.get("user_ids")
            if isinstance(user_ids, list) and self.bot_user_id in user_ids:
                return True
        return self._mention.search(body) is not None

    async def is_direct(self, room_id: str) -> bool:
        if await self.store.room_flag(room_id, "is_direct") == "true":
            return True
        members = await self.client.joined_members(room_id)
        return len(members) == 2 and self.bot_user_id in members

    async def on_message(self, room_id: str, event: JsonDict) -> None:
        content: dict[str, Any] = event["content"]
        relates = content.get("m.relates_to")
        if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
            return  # an edit: the original is already in the context
        if content.get("msgtype") not in ("m.text", "m.emote"):
            return  # notices come from other bots: never answer them (loops)
        body: str = content["body"]
        sender = str(event["sender"])
        self.contexts.add(room_id, ChatMessage("user", f"{sender}: {body}"))
        if self.is_mention(content, body) or await self.is_direct(room_id):
            self.spawn(self.answer(room_id))

    async def answer(self, room_id: str) -> None:
        """Asks the LLM about the room's context and streams the answer into the room."""
        lock = self._room_locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            prompt = self.contexts.prompt(room_id, self.ai.system_prompt)
            text = ""
            shown = ""
            event_id: str | None = None
            last_edit = 0.0
            try:
                async for piece in self.provider.stream_chat(prompt):
                    text += piece
                    if event_id is None:
                        if text.strip():
                            event_id = (await self.bot.send_text(room_id, text)).event_id
                            shown, last_edit = text, self._monotonic()
                    elif self._monotonic() - last_edit >= self.ai.edit_interval_s:
                        await self.bot.edit_text(room_id, event_id, text)
                        shown, last_edit = text, self._monotonic()
            except LLMError as e:
                apology = ERROR_TEXT.format(reason=e)
                if event_id is None:
                    await self.bot.send_text(room_id, apology, notice=True)
                else:
                    await self.bot.edit_text(room_id, event_id, f"{text}\n\n({apology})")
                return
            if event_id is None:
                await self.bot.send_text(
                    room_id, ERROR_TEXT.format(reason="the answer was empty"), notice=True
                )
                return
            if text != shown:
                await self.bot.edit_text(room_id, event_id, text)
            self.contexts.add(room_id, ChatMessage("assistant", text))
