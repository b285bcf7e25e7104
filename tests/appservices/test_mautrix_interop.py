"""Interop with a third-party appservice library: mautrix-python's AppService
(its own aiohttp server on 127.0.0.1) registered with our homeserver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient
from mautrix.appservice import AppService
from mautrix.types import Event, EventType, MessageEvent, RoomID, UserID

from tests.api.helpers import services_of
from tests.api.rooms_helpers import new_user
from tests.appservices.stack import free_port, wait_for_messages

AS_TOKEN = "as-token-mautrix"
HS_TOKEN = "hs-token-mautrix"
GHOST = "@mx_ghost:test.local"

#: mautrix passes ``loop=`` to aiohttp's Application (its own deprecation).
pytestmark = pytest.mark.filterwarnings("ignore:loop argument is deprecated:DeprecationWarning")

ClientFor = Callable[..., Awaitable[TestClient[Any, Any]]]


class _Interop:
    def __init__(self, hs: TestClient[Any, Any], port: int) -> None:
        self.hs = hs
        self.appservice = AppService(
            server=str(hs.make_url("")).rstrip("/"),
            domain="test.local",
            as_token=AS_TOKEN,
            hs_token=HS_TOKEN,
            bot_localpart="mxbot",
            id="mautrix",
            ephemeral_events=True,
        )
        self.port = port
        self.typing: list[Any] = []
        self.changed = asyncio.Event()
        self.appservice.matrix_event_handler(self._on_event)

    async def _on_event(self, event: Event) -> None:
        if event.type == EventType.TYPING:
            self.typing.append(event)
            self.changed.set()
            return
        if not isinstance(event, MessageEvent) or event.sender == UserID(GHOST):
            return
        if event.type != EventType.ROOM_MESSAGE or event.content.body != "ping":
            return
        intent = self.appservice.intent.user(UserID(GHOST))
        await intent.ensure_registered()
        await intent.ensure_joined(RoomID(event.room_id))
        await intent.send_text(RoomID(event.room_id), "pong")


@pytest.fixture
async def interop(client_for: ClientFor, tmp_path: Path) -> AsyncIterator[_Interop]:
    port = free_port()
    reg = {
        "id": "mautrix",
        "url": f"http://127.0.0.1:{port}",
        "as_token": AS_TOKEN,
        "hs_token": HS_TOKEN,
        "sender_localpart": "mxbot",
        "namespaces": {
            "users": [{"exclusive": True, "regex": "@mx_.*:test\\.local"}],
            "aliases": [{"exclusive": False, "regex": "#mx_.*:test\\.local"}],
        },
        "rate_limited": False,
        "receive_ephemeral": True,
    }
    path = tmp_path / "mautrix.yaml"
    path.write_text(yaml.safe_dump(reg), encoding="utf-8")
    hs = await client_for(app_service_config_files=[str(path)])
    sender = services_of(hs).appservices.sender
    sender.initial_backoff_s = 0.02
    sender.max_backoff_s = 0.1
    running = _Interop(hs, port)
    await running.appservice.start(host="127.0.0.1", port=port)
    yield running
    await running.appservice.stop()


async def test_mautrix_ghost_answers_room_message(interop: _Interop) -> None:
    alice = await new_user(interop.hs, "alice")
    room_id = await alice.create_room(preset="public_chat", room_alias_name="mx_room")
    await alice.send(room_id, "ping")
    messages = await wait_for_messages(
        alice, room_id, lambda ms: any(m["sender"] == GHOST for m in ms), timeout_s=15.0
    )
    reply = next(m for m in messages if m["sender"] == GHOST)
    assert reply["content"]["body"] == "pong"
    assert [m["content"]["body"] for m in messages] == ["ping", "pong"]


async def test_mautrix_receives_typing_in_ghost_room(interop: _Interop) -> None:
    alice = await new_user(interop.hs, "alice")
    room_id = await alice.create_room(preset="public_chat", room_alias_name="mx_room")
    await alice.send(room_id, "ping")
    await wait_for_messages(alice, room_id, lambda ms: any(m["sender"] == GHOST for m in ms))
    await alice.ok("PUT", f"/rooms/{room_id}/typing/{alice.user_id}", {"typing": True})
    async with asyncio.timeout(10):
        while not any(alice.user_id in t.content.user_ids for t in interop.typing):
            interop.changed.clear()
            await interop.changed.wait()
    assert all(t.room_id == room_id for t in interop.typing)
