"""Runs our homeserver and a bridge as two aiohttp apps in one event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient, TestServer

from appservices.framework.bridge import Bridge
from appservices.framework.config import C, parse_config
from appservices.framework.registration import registration_for
from tests.api.helpers import services_of
from tests.api.rooms_helpers import User

AS_TOKEN = "as-token-for-tests"
HS_TOKEN = "hs-token-for-tests"
DOMAIN = "test.local"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bridge_config_data(port: int, hs_url: str, db_url: str, **sections: Any) -> dict[str, Any]:
    return {
        "homeserver": {"url": hs_url, "domain": DOMAIN},
        "appservice": {
            "id": "testbridge",
            "address": f"http://127.0.0.1:{port}",
            "host": "127.0.0.1",
            "port": port,
            "as_token": AS_TOKEN,
            "hs_token": HS_TOKEN,
            "bot_localpart": "testbot",
            "user_prefix": "tb_",
            "database": db_url,
        },
        **sections,
    }


class Stack:
    """One homeserver, one bridge; ``start`` may be called again to restart the bridge."""

    def __init__(self, hs: TestClient[Any, Any], config: Any) -> None:
        self.hs = hs
        self.config = config
        self.bridge: Any = None
        self.server: TestServer | None = None

    @property
    def hs_url(self) -> str:
        return str(self.hs.make_url("")).rstrip("/")

    async def start_bridge(self, factory: Callable[[Any], Bridge]) -> Any:
        self.bridge = factory(self.config)
        self.server = TestServer(
            self.bridge.make_app(), host="127.0.0.1", port=self.config.appservice.port
        )
        await self.server.start_server()
        return self.bridge

    async def stop_bridge(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None


async def start_stack(
    client_for: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    model: type[C],
    db_url: str,
    **sections: Any,
) -> Stack:
    """Starts the homeserver with the bridge's registration; the bridge is not started yet."""
    port = free_port()
    draft = parse_config(model, bridge_config_data(port, "http://127.0.0.1:1", db_url, **sections))
    path = tmp_path / "registration.yaml"
    path.write_text(yaml.safe_dump(registration_for(draft)), encoding="utf-8")
    hs = await client_for(app_service_config_files=[str(path)])
    sender = services_of(hs).appservices.sender
    sender.initial_backoff_s = 0.02
    sender.max_backoff_s = 0.1
    hs_url = str(hs.make_url("")).rstrip("/")
    config = parse_config(model, bridge_config_data(port, hs_url, db_url, **sections))
    return Stack(hs, config)


async def room_messages(user: User, room_id: str) -> list[dict[str, Any]]:
    """The room's m.room.message events, oldest first."""
    data = await user.ok("GET", f"/rooms/{room_id}/messages", params={"dir": "b", "limit": "100"})
    return [e for e in reversed(data["chunk"]) if e["type"] == "m.room.message"]


async def wait_for_messages(
    user: User,
    room_id: str,
    predicate: Callable[[list[dict[str, Any]]], bool],
    timeout_s: float = 10.0,
) -> list[dict[str, Any]]:
    """Polls the room until ``predicate(messages)`` holds; returns the messages."""
    async with asyncio.timeout(timeout_s):
        while True:
            messages = await room_messages(user, room_id)
            if predicate(messages):
                return messages
            await asyncio.sleep(0.05)


async def wait_until(predicate: Callable[[], Awaitable[object]], timeout_s: float = 10.0) -> None:
    """Polls until ``await predicate()`` is truthy."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await predicate():
                return
            await asyncio.sleep(0.05)
