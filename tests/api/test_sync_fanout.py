"""GET /sync when many long-polls wake at once: every waiter gets exactly
what happened, although they share reads (timeline ranges, membership
changes, relation facts) and are built a few at a time."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]
WAITERS = 20


async def sync(user: User, **params: Any) -> dict[str, Any]:
    # Presence stays out of it: each member's first /sync would otherwise mark
    # them online and wake everyone else's long-poll.
    params.setdefault("set_presence", "offline")
    query = {k: (json.dumps(v) if isinstance(v, dict) else str(v)) for k, v in params.items()}
    data: dict[str, Any] = await user.ok("GET", "/sync", params=query)
    return data


def timeline(data: dict[str, Any], room_id: str) -> list[dict[str, Any]]:
    room = data["rooms"]["join"].get(room_id)
    return [] if room is None else list(room["timeline"]["events"])


async def crowd(client: Client, n: int = WAITERS) -> tuple[User, list[User], str]:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="public_chat")
    members = [await new_user(client, f"m{i}") for i in range(n)]
    for member in members:
        await member.join(room_id)
    return alice, members, room_id


async def poll_all(users: list[User], since: dict[str, str]) -> list[asyncio.Task[Any]]:
    tasks = [asyncio.create_task(sync(u, since=since[u.user_id], timeout=20000)) for u in users]
    await asyncio.sleep(0.2)  # let every long-poll park
    assert not any(t.done() for t in tasks)
    return tasks


async def test_every_waiter_gets_each_message_once(client: Client) -> None:
    alice, members, room_id = await crowd(client)
    since = {u.user_id: (await sync(u))["next_batch"] for u in members}
    for i in range(3):
        tasks = await poll_all(members, since)
        event_id = await alice.send(room_id, f"m{i}")
        results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
        for user, data in zip(members, results, strict=True):
            events = timeline(data, room_id)
            assert [e["event_id"] for e in events] == [event_id]
            assert events[0]["content"]["body"] == f"m{i}"
            # Shared reads must not leak the sender's transaction id.
            assert "transaction_id" not in events[0].get("unsigned", {})
            since[user.user_id] = data["next_batch"]
    # Nothing is delivered twice.
    again = await asyncio.gather(*(sync(u, since=since[u.user_id]) for u in members))
    assert all(timeline(d, room_id) == [] for d in again)


async def test_waiters_see_a_redaction_and_later_syncs_the_redacted_event(
    client: Client,
) -> None:
    alice, members, room_id = await crowd(client, 8)
    since = {u.user_id: (await sync(u))["next_batch"] for u in members}
    tasks = await poll_all(members, since)
    event_id = await alice.send(room_id, "oops")
    for user, data in zip(members, await asyncio.gather(*tasks), strict=True):
        since[user.user_id] = data["next_batch"]
    tasks = await poll_all(members, since)
    await alice.ok("PUT", f"/rooms/{room_id}/redact/{event_id}/r1", {})
    for data in await asyncio.gather(*tasks):
        events = timeline(data, room_id)
        assert [e["type"] for e in events] == ["m.room.redaction"]
        assert events[0]["redacts"] == event_id
    fresh = await sync(members[0])
    redacted = next(e for e in timeline(fresh, room_id) if e["event_id"] == event_id)
    assert redacted["content"] == {}


async def test_relation_sent_after_waiters_woke_is_bundled(client: Client) -> None:
    """The waiters remember that the new message has no children; the edit
    and the thread reply that follow must show up anyway."""
    alice, members, room_id = await crowd(client, 8)
    since = {u.user_id: (await sync(u))["next_batch"] for u in members}
    tasks = await poll_all(members, since)
    root = await alice.send(room_id, "root")
    for data in await asyncio.gather(*tasks):
        assert "m.relations" not in timeline(data, room_id)[0]["unsigned"]
    edit = await alice.ok(
        "PUT",
        f"/rooms/{room_id}/send/m.room.message/e1",
        {
            "msgtype": "m.text",
            "body": "* root!",
            "m.new_content": {"msgtype": "m.text", "body": "root!"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": root},
        },
    )
    reply = await members[0].ok(
        "PUT",
        f"/rooms/{room_id}/send/m.room.message/t1",
        {
            "msgtype": "m.text",
            "body": "in thread",
            "m.relates_to": {"rel_type": "m.thread", "event_id": root},
        },
    )
    for viewer, participated in ((members[0], True), (members[1], False)):
        served = await viewer.ok("GET", f"/rooms/{room_id}/event/{root}")
        relations = served["unsigned"]["m.relations"]
        assert relations["m.replace"]["event_id"] == edit["event_id"]
        assert relations["m.thread"]["latest_event"]["event_id"] == reply["event_id"]
        assert relations["m.thread"]["count"] == 1
        assert relations["m.thread"]["current_user_participated"] is participated


async def test_join_and_leave_while_polling_reach_the_user(client: Client) -> None:
    """The user's remembered memberships give way to a new member event."""
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    first = await alice.create_room()
    second = await alice.create_room(preset="public_chat")
    await alice.invite(first, bob)
    await bob.join(first)
    since = (await sync(bob))["next_batch"]
    since = (await sync(bob, since=since))["next_batch"]  # memberships now remembered
    waiting = asyncio.create_task(sync(bob, since=since, timeout=20000))
    await asyncio.sleep(0.2)
    await alice.invite(second, bob)
    data = await asyncio.wait_for(waiting, 10)
    assert second in data["rooms"]["invite"]
    await bob.join(second)
    data = await sync(bob, since=data["next_batch"])
    joined = data["rooms"]["join"][second]
    assert any(e["type"] == "m.room.create" for e in joined["state"]["events"])
    waiting = asyncio.create_task(sync(bob, since=data["next_batch"], timeout=20000))
    await asyncio.sleep(0.2)
    await bob.ok("POST", f"/rooms/{first}/leave", {})
    data = await asyncio.wait_for(waiting, 10)
    assert first in data["rooms"]["leave"]
    assert first not in (await sync(bob))["rooms"]["join"]


async def test_idle_poll_wakes_for_account_data_and_to_device(client: Client) -> None:
    """A poll with nothing new waits before building; what arrives meanwhile
    still comes back, and delivered to-device messages are acknowledged."""
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    since = (await sync(bob))["next_batch"]
    waiting = asyncio.create_task(sync(bob, since=since, timeout=20000))
    await asyncio.sleep(0.2)
    await bob.ok("PUT", f"/user/{bob.user_id}/account_data/org.example.pref", {"x": 1})
    data = await asyncio.wait_for(waiting, 10)
    assert data["account_data"]["events"] == [{"type": "org.example.pref", "content": {"x": 1}}]
    waiting = asyncio.create_task(sync(bob, since=data["next_batch"], timeout=20000))
    await asyncio.sleep(0.2)
    await alice.ok(
        "PUT",
        "/sendToDevice/org.example.ping/d1",
        {"messages": {bob.user_id: {bob.device_id: {"n": 1}}}},
    )
    data = await asyncio.wait_for(waiting, 10)
    assert [m["content"] for m in data["to_device"]["events"]] == [{"n": 1}]
    # The next poll acknowledges the message: it never comes back.
    data = await sync(bob, since=data["next_batch"], timeout=200)
    assert data["to_device"]["events"] == []
    assert data["account_data"]["events"] == []
