"""The framework against our real homeserver: transactions, auth, intents, masquerading."""

from __future__ import annotations

import json
import string
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appservices.framework.bridge import Bridge
from appservices.framework.client import JsonDict, MatrixRequestError
from appservices.framework.config import BridgeConfig
from appservices.framework.state_store import StateStore
from appservices.framework.transport import Transport
from tests.api.fuzz_helpers import json_values
from tests.api.rooms_helpers import new_user
from tests.appservices.stack import HS_TOKEN, Stack, start_stack, wait_for_messages, wait_until

TXN = "/_matrix/app/v1/transactions/"


class RecordingBridge(Bridge):
    """Records what reaches the hooks."""

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__(config)
        self.messages: list[JsonDict] = []

    async def on_message(self, room_id: str, event: JsonDict) -> None:
        self.messages.append(event)

    async def query_user(self, user_id: str) -> bool:
        return user_id == self.ghost_user_id("known")


@pytest.fixture
async def stack(client_for: Any, tmp_path: Path, bridge_db_url: str) -> AsyncIterator[Stack]:
    started = await start_stack(client_for, tmp_path, BridgeConfig, bridge_db_url)
    await started.start_bridge(RecordingBridge)
    yield started
    await started.stop_bridge()


def _event(body: str, event_id: str = "$e1") -> JsonDict:
    return {
        "type": "m.room.message",
        "room_id": "!r:test.local",
        "sender": "@alice:test.local",
        "event_id": event_id,
        "content": {"msgtype": "m.text", "body": body},
    }


async def _put_txn(stack: Stack, txn_id: str, events: list[JsonDict], token: str | None) -> Any:
    assert stack.server is not None
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with stack.hs.session.put(
        str(stack.server.make_url(TXN + txn_id)), json={"events": events}, headers=headers
    ) as resp:
        return resp.status, await resp.json()


async def test_transaction_handled_once_when_redelivered_after_restart(stack: Stack) -> None:
    assert (await _put_txn(stack, "t1", [_event("one")], HS_TOKEN))[0] == 200
    assert (await _put_txn(stack, "t1", [_event("one")], HS_TOKEN))[0] == 200
    assert [e["content"]["body"] for e in stack.bridge.messages] == ["one"]

    await stack.stop_bridge()
    restarted = await stack.start_bridge(RecordingBridge)
    assert (await _put_txn(stack, "t1", [_event("one")], HS_TOKEN)) == (200, {})
    assert restarted.messages == []
    assert (await _put_txn(stack, "t2", [_event("two", "$e2")], HS_TOKEN))[0] == 200
    assert [e["content"]["body"] for e in restarted.messages] == ["two"]


async def test_transaction_unauthorized_when_hs_token_missing(stack: Stack) -> None:
    status, body = await _put_txn(stack, "t1", [_event("x")], None)
    assert status == 401
    assert body["errcode"] == "M_UNAUTHORIZED"
    assert stack.bridge.messages == []


async def test_transaction_forbidden_when_hs_token_wrong(stack: Stack) -> None:
    status, body = await _put_txn(stack, "t1", [_event("x")], "not-the-token")
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"
    # A refused transaction is not remembered as handled.
    assert (await _put_txn(stack, "t1", [_event("x")], HS_TOKEN))[0] == 200
    assert len(stack.bridge.messages) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/_matrix/app/v1/users/@tb_x:test.local"), ("POST", "/_matrix/app/v1/ping")],
)
async def test_queries_forbidden_when_hs_token_wrong(stack: Stack, method: str, path: str) -> None:
    assert stack.server is not None
    async with stack.hs.session.request(
        method, str(stack.server.make_url(path)), json={}, headers={"Authorization": "Bearer no"}
    ) as resp:
        assert resp.status == 403


async def test_user_query_answers_from_bridge_when_homeserver_asks(stack: Stack) -> None:
    assert stack.server is not None
    headers = {"Authorization": f"Bearer {HS_TOKEN}"}
    known = stack.server.make_url("/_matrix/app/v1/users/@tb_known:test.local")
    unknown = stack.server.make_url("/_matrix/app/v1/users/@tb_other:test.local")
    async with stack.hs.session.get(str(known), headers=headers) as resp:
        assert resp.status == 200
    async with stack.hs.session.get(str(unknown), headers=headers) as resp:
        assert resp.status == 404
        assert (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_homeserver_ping_reaches_bridge_when_registered(stack: Stack) -> None:
    resp = await stack.hs.post(
        "/_matrix/client/v1/appservice/testbridge/ping",
        json={"transaction_id": "p1"},
        headers={"Authorization": f"Bearer {stack.config.appservice.as_token}"},
    )
    assert resp.status == 200
    assert "duration_ms" in await resp.json()


async def test_ensure_registered_idempotent_when_called_twice(stack: Stack) -> None:
    ghost = stack.bridge.intent(stack.bridge.ghost_user_id("Alice Remote"))
    await ghost.ensure_registered()
    await ghost.ensure_registered()
    assert ghost.user_id == "@tb_alice_remote:test.local"
    assert await ghost.client.whoami() == ghost.user_id
    # Forgetting it locally: the homeserver's M_USER_IN_USE counts as registered.
    async with stack.bridge.store.db.write() as conn:
        await conn.execute("DELETE FROM as_registered_users")
    await ghost.ensure_registered()
    assert await stack.bridge.store.is_registered(ghost.user_id)


async def test_ensure_joined_idempotent_when_room_invite_only(stack: Stack) -> None:
    alice = await new_user(stack.hs, "alice")
    room_id = await alice.create_room(preset="private_chat", invite=[stack.bridge.bot_user_id])
    # The invite reaches the bridge as a transaction and the bot joins by itself.
    await wait_until(
        lambda: stack.bridge.store.membership(room_id, stack.bridge.bot_user_id),
    )
    ghost = stack.bridge.intent(stack.bridge.ghost_user_id("bob"))
    await ghost.ensure_joined(room_id)
    await ghost.ensure_joined(room_id)
    members = await alice.ok("GET", f"/rooms/{room_id}/joined_members")
    assert set(members["joined"]) == {alice.user_id, stack.bridge.bot_user_id, ghost.user_id}


async def test_ghost_sends_as_itself_when_masquerading(stack: Stack) -> None:
    alice = await new_user(stack.hs, "alice")
    room_id = await alice.create_room(preset="public_chat")
    ghost = stack.bridge.intent(stack.bridge.ghost_user_id("carol"))
    await ghost.ensure_joined(room_id)
    await ghost.client.send_event(
        room_id, "m.room.message", {"msgtype": "m.text", "body": "from carol"}, ts=1_600_000_000_000
    )
    messages = await wait_for_messages(alice, room_id, lambda m: len(m) == 1)
    assert messages[0]["sender"] == ghost.user_id
    assert messages[0]["origin_server_ts"] == 1_600_000_000_000


async def test_masquerade_refused_when_user_outside_namespace(stack: Stack) -> None:
    await new_user(stack.hs, "dave")
    with pytest.raises(MatrixRequestError) as info:
        await stack.bridge.client.as_user("@dave:test.local").whoami()
    assert info.value.status == 403


async def test_bridge_receives_room_messages_when_homeserver_pushes(stack: Stack) -> None:
    alice = await new_user(stack.hs, "alice")
    room_id = await alice.create_room(preset="public_chat")
    await stack.bridge.bot.ensure_joined(room_id)
    await alice.send(room_id, "hello bridge")

    async def arrived() -> bool:
        return any(e["content"]["body"] == "hello bridge" for e in stack.bridge.messages)

    await wait_until(arrived)
    assert stack.bridge.messages[-1]["sender"] == alice.user_id


@pytest.fixture
async def transport_client(bridge_db_url: str) -> AsyncIterator[TestClient[Any, Any]]:
    store = await StateStore.open(bridge_db_url)

    class Handler:
        async def handle_transaction(self, txn_id: str, events: list[JsonDict], b: Any) -> None:
            return None

        async def query_user(self, user_id: str) -> bool:
            return False

        async def query_alias(self, alias: str) -> bool:
            return False

    app = web.Application()
    Transport(HS_TOKEN, lambda: store, Handler()).add_routes(app)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()
    await store.close()


raw_bodies = json_values.map(lambda b: json.dumps(b).encode()) | st.binary(max_size=30)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=raw_bodies,
    txn_id=st.text(string.ascii_letters + string.digits + "-_=@:!", min_size=1, max_size=20),
    target=st.sampled_from(["txn", "ping", "user"]),
)
async def test_transport_random_input_never_500(
    transport_client: TestClient[Any, Any], body: bytes, txn_id: str, target: str
) -> None:
    path = {
        "txn": ("PUT", TXN + txn_id),
        "ping": ("POST", "/_matrix/app/v1/ping"),
        "user": ("GET", "/_matrix/app/v1/users/" + txn_id),
    }[target]
    resp = await transport_client.request(
        path[0], path[1], data=body, headers={"Authorization": f"Bearer {HS_TOKEN}"}
    )
    assert resp.status in (200, 400, 404)
    if resp.status != 200:
        assert "errcode" in await resp.json()
