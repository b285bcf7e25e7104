"""PUT /sendToDevice/{eventType}/{txnId} and delivery through /sync."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import User, new_user


async def _to_device(user: User, since: str | None = None, **params: str) -> tuple[list[Any], str]:
    query = dict(params)
    if since:
        query["since"] = since
    data = await user.ok("GET", "/sync", params=query)
    return data["to_device"]["events"], data["next_batch"]


async def test_message_delivered_once_and_removed_after_ack(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    body = {"messages": {bob.user_id: {bob.device_id: {"secret": 1}}}}
    await alice.ok("PUT", "/sendToDevice/org.example.ping/txn1", body)
    events, first = await _to_device(bob)
    assert events == [
        {"type": "org.example.ping", "sender": alice.user_id, "content": {"secret": 1}}
    ]
    # Not acknowledged yet: an initial sync again still gets it.
    events, _ = await _to_device(bob)
    assert len(events) == 1
    events, _ = await _to_device(bob, first)
    assert events == []
    events, _ = await _to_device(bob)
    assert events == []


async def test_wildcard_reaches_every_device_and_txn_is_idempotent(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    body = {"messages": {bob.user_id: {"*": {"n": 1}}}}
    await alice.ok("PUT", "/sendToDevice/org.example.ping/same", body)
    await alice.ok("PUT", "/sendToDevice/org.example.ping/same", body)
    events, _ = await _to_device(bob)
    assert [e["content"] for e in events] == [{"n": 1}]


async def test_to_device_wakes_waiting_sync(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    _, since = await _to_device(bob)
    waiting = asyncio.create_task(_to_device(bob, since, timeout="30000"))
    await asyncio.sleep(0.2)
    body = {"messages": {bob.user_id: {bob.device_id: {"k": "v"}}}}
    await alice.ok("PUT", "/sendToDevice/org.example.ping/t2", body)
    events, _ = await asyncio.wait_for(waiting, 2)
    assert [e["content"] for e in events] == [{"k": "v"}]


async def test_missing_messages_is_rejected(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request("PUT", "/sendToDevice/org.example.ping/t3", {})
    assert (status, data["errcode"]) == (400, "M_MISSING_PARAM")
