"""/sync carries what other services produce: account data wake-ups, push
counts, device-list changes and fallback key types."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import login
from tests.api.rooms_helpers import User, new_user


async def sync(user: User, **params: Any) -> dict[str, Any]:
    data: dict[str, Any] = await user.ok(
        "GET", "/sync", params={k: str(v) for k, v in params.items()}
    )
    return data


async def test_account_data_change_wakes_waiting_sync(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    first = await sync(alice)
    waiting = asyncio.create_task(sync(alice, since=first["next_batch"], timeout=20000))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await alice.ok(
        "PUT", f"/user/{alice.user_id}/account_data/org.example.colour", {"colour": "green"}
    )
    data = await asyncio.wait_for(waiting, 10)
    assert time.monotonic() - started < 5
    types = [e["type"] for e in data["account_data"]["events"]]
    assert "org.example.colour" in types


async def test_message_for_other_member_counts_as_unread_notification(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="trusted_private_chat", is_direct=True)
    await alice.invite(room_id, bob)
    await bob.join(room_id)
    await alice.send(room_id, "are you there?")
    data = await sync(bob)
    counts = data["rooms"]["join"][room_id]["unread_notifications"]
    assert counts["notification_count"] == 1


async def test_new_device_of_room_member_appears_in_device_lists_changed(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    before = await sync(alice)
    await login(client, "bob", "password-123")
    after = await sync(alice, since=before["next_batch"])
    assert bob.user_id in after["device_lists"]["changed"]


async def test_unused_fallback_key_types_reported_until_used(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    await alice.ok(
        "POST",
        "/keys/upload",
        {"fallback_keys": {"signed_curve25519:AAAAHQ": {"key": "fallback-key", "fallback": True}}},
    )
    data = await sync(alice)
    assert data["device_unused_fallback_key_types"] == ["signed_curve25519"]
