"""Pushers API and delivery to a real push gateway on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from homeserver.services.clock import FakeClock
from tests.api.rooms_helpers import User, new_user

NOTIFY = "/_matrix/push/v1/notify"


class Gateway:
    """A push gateway that records requests and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        #: (status, body) answers, used in order; afterwards 200 {"rejected": []}
        self.script: list[tuple[int, dict[str, Any]]] = []
        self.delivered = asyncio.Event()
        self.server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(await request.json())
        status, body = self.script.pop(0) if self.script else (200, {"rejected": []})
        if status == 200:
            self.delivered.set()
        return web.json_response(body, status=status)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url(NOTIFY))


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway()
    app = web.Application()
    app.router.add_post(NOTIFY, gw.handle)
    gw.server = TestServer(app, host="127.0.0.1")
    await gw.server.start_server()
    yield gw
    await gw.server.close()


def pusher_body(url: str, pushkey: str = "key-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "http",
        "app_id": "org.example.app",
        "pushkey": pushkey,
        "app_display_name": "Example",
        "device_display_name": "Phone",
        "profile_tag": "tag",
        "lang": "en",
        "data": {"url": url, "custom": 7},
    }
    body.update(overrides)
    return body


async def dm_with_pusher(
    client: TestClient[Any, Any], url: str, **data: Any
) -> tuple[User, User, str]:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat", name="Mission Control")
    await alice.invite(room_id, bob)
    await bob.join(room_id)
    body = pusher_body(url)
    body["data"].update(data)
    await bob.ok("POST", "/pushers/set", body)
    return alice, bob, room_id


async def pushkeys(user: User) -> list[str]:
    return [p["pushkey"] for p in (await user.ok("GET", "/pushers"))["pushers"]]


async def test_set_pusher_then_list_it(client: TestClient[Any, Any]) -> None:
    bob = await new_user(client, "bob")
    url = "http://127.0.0.1:1" + NOTIFY
    await bob.ok("POST", "/pushers/set", pusher_body(url))
    assert (await bob.ok("GET", "/pushers"))["pushers"] == [
        {
            "pushkey": "key-1",
            "kind": "http",
            "app_id": "org.example.app",
            "app_display_name": "Example",
            "device_display_name": "Phone",
            "profile_tag": "tag",
            "lang": "en",
            "data": {"url": url, "custom": 7},
        }
    ]
    await bob.ok("POST", "/pushers/set", pusher_body(url, lang="de"))
    assert [p["lang"] for p in (await bob.ok("GET", "/pushers"))["pushers"]] == ["de"]


async def test_set_pusher_with_null_kind_deletes_it(client: TestClient[Any, Any]) -> None:
    bob = await new_user(client, "bob")
    url = "http://127.0.0.1:1" + NOTIFY
    await bob.ok("POST", "/pushers/set", pusher_body(url))
    await bob.ok(
        "POST", "/pushers/set", {"kind": None, "app_id": "org.example.app", "pushkey": "key-1"}
    )
    assert await pushkeys(bob) == []


async def test_set_pusher_without_append_takes_pushkey_from_others(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    url = "http://127.0.0.1:1" + NOTIFY
    await alice.ok("POST", "/pushers/set", pusher_body(url))
    await bob.ok("POST", "/pushers/set", pusher_body(url, append=True))
    assert await pushkeys(alice) == ["key-1"]
    await bob.ok("POST", "/pushers/set", pusher_body(url))
    assert await pushkeys(alice) == []
    assert await pushkeys(bob) == ["key-1"]


async def test_set_pusher_rejects_invalid_bodies(client: TestClient[Any, Any]) -> None:
    bob = await new_user(client, "bob")
    url = "http://127.0.0.1:1" + NOTIFY
    status, data = await bob.request(
        "POST", "/pushers/set", {"kind": "http", "app_id": "a", "pushkey": "k"}
    )
    assert (status, data["errcode"]) == (400, "M_MISSING_PARAM")
    assert "app_display_name" in data["error"]
    assert "lang" in data["error"]
    cases = [
        pusher_body(url, kind="email"),
        pusher_body("ftp://127.0.0.1" + NOTIFY),
        pusher_body("http://127.0.0.1:1/elsewhere"),
        pusher_body(url, app_id="a" * 65),
        pusher_body(url, pushkey="k" * 513),
    ]
    for body in cases:
        status, data = await bob.request("POST", "/pushers/set", body)
        assert (status, data["errcode"]) == (400, "M_INVALID_PARAM"), body
    status, data = await bob.request("POST", "/pushers/set", pusher_body(url, data={}))
    assert (status, data["errcode"]) == (400, "M_MISSING_PARAM")
    assert await pushkeys(bob) == []


async def test_message_is_pushed_to_gateway_in_spec_format(
    client: TestClient[Any, Any], gateway: Gateway
) -> None:
    alice, _bob, room_id = await dm_with_pusher(client, gateway.url)
    event_id = await alice.send(room_id, "floating")
    await asyncio.wait_for(gateway.delivered.wait(), 10)
    notification = gateway.requests[-1]["notification"]
    assert notification["event_id"] == event_id
    assert notification["room_id"] == room_id
    assert notification["type"] == "m.room.message"
    assert notification["sender"] == alice.user_id
    # The display name in the sender's member event (registration sets it).
    assert notification["sender_display_name"] == "alice"
    assert notification["room_name"] == "Mission Control"
    assert notification["content"] == {"msgtype": "m.text", "body": "floating"}
    assert notification["prio"] == "high"
    assert notification["counts"] == {"unread": 1}
    [device] = notification["devices"]
    assert device["app_id"] == "org.example.app"
    assert device["pushkey"] == "key-1"
    assert isinstance(device["pushkey_ts"], int)
    assert device["data"] == {"custom": 7}
    assert device["tweaks"] == {"sound": "default"}


async def test_event_id_only_format_omits_event_details(
    client: TestClient[Any, Any], gateway: Gateway
) -> None:
    alice, _bob, room_id = await dm_with_pusher(client, gateway.url, format="event_id_only")
    event_id = await alice.send(room_id, "secret")
    await asyncio.wait_for(gateway.delivered.wait(), 10)
    notification = gateway.requests[-1]["notification"]
    assert notification["event_id"] == event_id
    assert notification["devices"][0]["data"] == {"custom": 7, "format": "event_id_only"}
    for key in ("content", "sender", "type", "sender_display_name", "room_name"):
        assert key not in notification


async def test_rejected_pushkey_removes_pusher(
    client: TestClient[Any, Any], gateway: Gateway
) -> None:
    alice, bob, room_id = await dm_with_pusher(client, gateway.url)
    gateway.script = [(200, {"rejected": ["key-1"]})]
    await alice.send(room_id, "hello")
    await asyncio.wait_for(gateway.delivered.wait(), 10)
    for _ in range(100):
        if not await pushkeys(bob):
            break
        await asyncio.sleep(0.02)
    assert await pushkeys(bob) == []


async def test_gateway_errors_are_retried_with_backoff(client_for: Any, gateway: Gateway) -> None:
    clock = FakeClock()
    client = await client_for(clock=clock)
    alice, _bob, room_id = await dm_with_pusher(client, gateway.url)
    gateway.script = [(500, {}), (503, {}), (500, {})]
    start = clock.monotonic()
    event_id = await alice.send(room_id, "hello")
    await asyncio.wait_for(gateway.delivered.wait(), 10)
    assert [r["notification"]["event_id"] for r in gateway.requests] == [event_id] * 4
    # Backoff doubles from one second: 1 + 2 + 4.
    assert clock.monotonic() - start == pytest.approx(7.0)
