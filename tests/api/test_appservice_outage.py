"""An appservice that is unreachable (connection refused) while a backlog
larger than one transaction builds up: at most one transaction waits, and
once it is back every event arrives exactly once, in order, under
increasing transaction ids."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from tests.api.fake_bridge import AS_TOKEN, FakeBridge, registration, write_registration
from tests.api.helpers import REGISTER, auth_header, services_of
from tests.api.rooms_helpers import V3, new_user


def _bodies(*bridges: FakeBridge) -> list[str]:
    return [
        e["content"]["body"]
        for b in bridges
        for e in b.events()
        if e["type"] == "m.room.message" and "body" in e["content"]
    ]


async def _bridge_on(port: int | None = None) -> FakeBridge:
    fake = FakeBridge()
    if port is not None:
        fake.server = TestServer(fake.server.app, host="127.0.0.1", port=port)
    await fake.start()
    return fake


async def test_backlog_delivered_in_order_after_appservice_unreachable(
    client_for: Any, tmp_path: Path
) -> None:
    first = await _bridge_on()
    port = first.server.port
    assert port is not None
    path = write_registration(tmp_path, registration(first.url))
    client = await client_for(app_service_config_files=[path])
    sender = services_of(client).appservices.sender
    sender.initial_backoff_s = 0.02
    sender.max_backoff_s = 0.05
    sender.batch_size = 3  # the backlog below spans several transactions

    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="public_chat")
    body = {"type": "m.login.application_service", "username": "bridge_mo"}
    resp = await client.post(REGISTER, json=body, headers=auth_header(AS_TOKEN))
    assert resp.status == 200
    resp = await client.post(
        f"{V3}/join/{room_id}",
        json={},
        params={"user_id": "@bridge_mo:test.local"},
        headers=auth_header(AS_TOKEN),
    )
    assert resp.status == 200
    await alice.send(room_id, "before")
    await first.wait_for(lambda b: "before" in _bodies(b))
    await first.close()  # connection refused from now on

    sent = [f"b{i}" for i in range(10)]
    for text in sent:
        await alice.send(room_id, text)
    # Retries go on while it is down; nothing piles up beyond one transaction.
    for _ in range(10):
        await asyncio.sleep(0.05)
        assert await sender.pending_count("bridge") <= 1
    assert await sender.pending_count("bridge") == 1

    second = await _bridge_on(port)
    try:
        await second.wait_for(lambda b: len(_bodies(b)) >= len(sent))
        await alice.send(room_id, "after")
        await second.wait_for(lambda b: "after" in _bodies(b))
        assert _bodies(first, second) == ["before", *sent, "after"]
        txn_ids = [int(t) for b in (first, second) for t, _ in b.txns]
        assert txn_ids == sorted(set(txn_ids))
        # Ten events at three per transaction: more than one transaction.
        assert len(second.txns) >= 4
        # The acknowledged transaction is deleted just after the answer.
        for _ in range(250):
            if await sender.pending_count("bridge") == 0:
                break
            await asyncio.sleep(0.02)
        assert await sender.pending_count("bridge") == 0
    finally:
        await second.close()
