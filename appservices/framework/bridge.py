"""The ``Bridge`` base class: event dispatch, intents, commands, lifecycle.

A bridge subclasses ``Bridge`` and overrides the hooks it needs
(``on_message``, ``on_bot_invited``, ``add_routes``, ``start``, ``stop``).
``make_app()`` returns the aiohttp application; its ``cleanup_ctx`` opens, in
order, the state store, the HTTP session and client, then registers the bot
and calls ``start()``; it undoes them in reverse on shutdown, cancelling the
bridge's background tasks first.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import aiohttp
from aiohttp import web

from appservices.framework.client import JsonDict, MatrixClient
from appservices.framework.commands import CommandRouter
from appservices.framework.config import BridgeConfig
from appservices.framework.intent import Intent
from appservices.framework.state_store import StateStore
from appservices.framework.transport import Transport

logger = logging.getLogger(__name__)

_NOT_LOCALPART = re.compile(r"[^a-z0-9._=\-/+]")


class Bridge:
    """Base of every bridge and bot; see the module docstring."""

    #: set to a router to handle ``!prefix ...`` commands in rooms
    commands: CommandRouter | None = None

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        domain = config.homeserver.domain
        self.bot_user_id = f"@{config.appservice.bot_localpart}:{domain}"
        self._store: StateStore | None = None
        self._client: MatrixClient | None = None
        self._bot: Intent | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # Lifecycle

    @property
    def store(self) -> StateStore:
        assert self._store is not None, "the bridge is not started"
        return self._store

    @property
    def client(self) -> MatrixClient:
        assert self._client is not None, "the bridge is not started"
        return self._client

    @property
    def bot(self) -> Intent:
        assert self._bot is not None, "the bridge is not started"
        return self._bot

    def make_app(self) -> web.Application:
        """The aiohttp app serving the AS API (plus ``add_routes``), owning the lifecycle."""
        app = web.Application()
        Transport(self.config.appservice.hs_token, lambda: self.store, self).add_routes(app)
        self.add_routes(app)
        app.cleanup_ctx.append(self._lifecycle)
        return app

    async def _lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        self._store = await StateStore.open(self.config.appservice.database)
        session = aiohttp.ClientSession()
        try:
            self._client = MatrixClient(
                session, self.config.homeserver.url, self.config.appservice.as_token
            )
            self._bot = Intent(self._client, self.bot_user_id, self._store)
            await self._bot.ensure_registered()
            await self.start()
            logger.info("bridge %s started", self.config.appservice.id)
            yield
            logger.info("bridge %s stopping", self.config.appservice.id)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.stop()
        finally:
            await session.close()
            await self._store.close()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Runs ``coro`` in the background, owned by the bridge (cancelled on shutdown).

        For work that must not hold up the homeserver's transaction (LLM calls...).
        """

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("background task of bridge %s failed", self.config.appservice.id)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Waits until no background task is left (tests, graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # Users

    def is_our_user(self, user_id: str) -> bool:
        """The bot or one of our ghosts."""
        if user_id == self.bot_user_id:
            return True
        prefix = f"@{self.config.appservice.user_prefix}"
        return user_id.startswith(prefix) and user_id.endswith(f":{self.config.homeserver.domain}")

    def ghost_user_id(self, remote_id: str) -> str:
        """Our ghost's user ID for a remote user: ``@{prefix}{sanitised id}:{domain}``."""
        cleaned = _NOT_LOCALPART.sub("_", remote_id.lower()) or "_"
        prefix = self.config.appservice.user_prefix
        return f"@{prefix}{cleaned}:{self.config.homeserver.domain}"

    def intent(self, user_id: str) -> Intent:
        """An intent for the bot or one of our ghosts (masquerading as it)."""
        if user_id == self.bot_user_id:
            return self.bot
        return Intent(self.client.as_user(user_id), user_id, self.store, bot=self.bot)

    # Hooks

    def add_routes(self, app: web.Application) -> None:
        """Adds the bridge's own HTTP routes (webhooks...)."""

    async def start(self) -> None:
        """Called once the store, client and bot are ready."""

    async def stop(self) -> None:
        """Called on shutdown, after background tasks are cancelled."""

    async def query_user(self, user_id: str) -> bool:
        return False

    async def query_alias(self, alias: str) -> bool:
        return False

    async def on_bot_invited(self, room_id: str, event: JsonDict) -> None:
        """The bot was invited: by default it joins."""
        await self.bot.ensure_joined(room_id)

    async def on_message(self, room_id: str, event: JsonDict) -> None:
        """An ``m.room.message`` from someone who is not ours (after commands)."""

    async def on_event(self, event: JsonDict) -> None:
        """Any other event of the transaction."""

    # Dispatch

    async def handle_transaction(self, txn_id: str, events: list[JsonDict], body: JsonDict) -> None:
        for event in events:
            try:
                await self.handle_event(event)
            except Exception:
                # One bad event must not block the homeserver's queue forever.
                logger.exception("event %s of txn %s failed", event.get("event_id"), txn_id)

    async def handle_event(self, event: JsonDict) -> None:
        event_type = event.get("type")
        room_id = event.get("room_id")
        sender = event.get("sender")
        if not isinstance(room_id, str) or not isinstance(sender, str):
            return
        if event_type == "m.room.member":
            await self._membership(room_id, event)
            return
        if event_type == "m.room.message" and not self.is_our_user(sender):
            content = event.get("content")
            body = content.get("body") if isinstance(content, dict) else None
            if not isinstance(body, str):
                return
            if self.commands is not None:
                reply = await self.commands.dispatch(
                    room_id, sender, str(event.get("event_id", "")), body
                )
                if reply is not None:
                    await self.bot.send_text(room_id, reply, notice=True)
                    return
            await self.on_message(room_id, event)
            return
        await self.on_event(event)

    async def _membership(self, room_id: str, event: JsonDict) -> None:
        state_key = event.get("state_key")
        content = event.get("content")
        if not isinstance(state_key, str) or not isinstance(content, dict):
            return
        membership = content.get("membership")
        if not isinstance(membership, str) or not self.is_our_user(state_key):
            await self.on_event(event)
            return
        await self.store.set_membership(room_id, state_key, membership)
        if state_key == self.bot_user_id and membership == "invite":
            if content.get("is_direct") is True:
                await self.store.set_room_flag(room_id, "is_direct", "true")
            await self.on_bot_invited(room_id, event)
