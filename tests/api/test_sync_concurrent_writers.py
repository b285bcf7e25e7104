"""GET /sync while many writers commit at once: a long-polling client gets
every event, to-device message and receipt, with no gap.

Concurrent transactions do not commit in the order their positions were
allocated, and each does work after its commit before readers may see it.
A token handed out in between must never pass a change the response did
not include: these tests keep a client long-polling through bursts of
concurrent writes and check that it saw everything.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import services_of
from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]
SENDERS = 20
ROUNDS = 6


async def _follow(
    watcher: User, since: str, done: asyncio.Event, seen: dict[str, list[str]], key: str
) -> None:
    """Long-polls until ``done``, collecting timeline event ids, to-device
    message ids (``key`` of their content) and receipts."""
    flt = json.dumps({"room": {"timeline": {"limit": 1000}}})
    while True:
        finishing = done.is_set()
        data = await watcher.ok(
            "GET",
            "/sync",
            params={"since": since, "timeout": "0" if finishing else "500", "filter": flt},
        )
        since = data["next_batch"]
        for room_id, room in data["rooms"]["join"].items():
            assert not room["timeline"]["limited"], room_id
            seen.setdefault(room_id, []).extend(e["event_id"] for e in room["timeline"]["events"])
            for edu in room["ephemeral"]["events"]:
                if edu["type"] == "m.receipt":
                    for event_id in edu["content"]:
                        seen.setdefault("receipts", []).append(event_id)
        for message in data["to_device"]["events"]:
            seen.setdefault("to_device", []).append(message["content"][key])
        if finishing:
            return


async def test_long_poll_misses_nothing_under_concurrent_writers(client: Client) -> None:
    owner = await new_user(client, "owner")
    watcher = await new_user(client, "watcher")
    senders = [await new_user(client, f"s{i}") for i in range(SENDERS)]
    rooms = [
        await owner.create_room(
            preset="public_chat", power_level_content_override={"state_default": 0}
        )
        for _ in range(3)
    ]
    for room_id in rooms:
        await watcher.join(room_id)
        for sender in senders:
            await sender.join(room_id)
    start = (await watcher.ok("GET", "/sync"))["next_batch"]
    done = asyncio.Event()
    seen: dict[str, list[str]] = {}
    follower = asyncio.create_task(_follow(watcher, start, done, seen, "n"))

    sent: dict[str, set[str]] = {room_id: set() for room_id in rooms}
    messages: list[str] = []

    async def write(i: int, n: int) -> None:
        sender = senders[i]
        room_id = rooms[(i + n) % len(rooms)]
        if n % 3 == 0:
            status, data = await sender.request(
                "PUT", f"/rooms/{room_id}/state/m.test.state/{sender.user_id}", {"n": n}
            )
        elif n % 3 == 1:
            status, data = await sender.request(
                "PUT", f"/rooms/{room_id}/send/m.room.message/t{n}", {"body": f"{i}/{n}"}
            )
        else:
            message_id = f"{i}/{n}"
            status, data = await sender.request(
                "PUT",
                f"/sendToDevice/m.test/t{n}",
                {"messages": {watcher.user_id: {"*": {"n": message_id}}}},
            )
            assert status == 200, data
            messages.append(message_id)
            return
        assert status == 200, data
        sent[room_id].add(data["event_id"])

    for n in range(ROUNDS):
        await asyncio.gather(*(write(i, n) for i in range(SENDERS)))
    done.set()
    await asyncio.wait_for(follower, 60)

    for room_id in rooms:
        got = seen.get(room_id, [])
        assert len(got) == len(set(got)), f"duplicates in {room_id}"
        missing = sent[room_id] - set(got)
        assert not missing, f"{len(missing)} of {len(sent[room_id])} events missing in {room_id}"
    assert sorted(seen.get("to_device", [])) == sorted(messages)


async def test_token_never_passes_an_event_still_finishing_its_commit(client: Client) -> None:
    """An event whose after-commit work is still running is not in any token yet:
    a /sync in that window neither shows it nor hands out a token past it."""
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    since = (await alice.ok("GET", "/sync"))["next_batch"]
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_hook(events: Any) -> None:
        if any(e.pdu.content.get("body") == "slow" for e in events):
            entered.set()
            await release.wait()

    persister = services_of(alice.client).rooms.persister
    persister.after_commit.append(slow_hook)
    sending = asyncio.create_task(alice.send(room_id, "slow"))
    await asyncio.wait_for(entered.wait(), 10)
    # The event is committed; its after-commit work has not finished.
    during = await alice.ok("GET", "/sync", params={"since": since, "timeout": "0"})
    assert room_id not in during["rooms"]["join"]
    release.set()
    event_id = await asyncio.wait_for(sending, 10)
    after = await alice.ok(
        "GET", "/sync", params={"since": during["next_batch"], "timeout": "5000"}
    )
    events = after["rooms"]["join"][room_id]["timeline"]["events"]
    assert [e["event_id"] for e in events] == [event_id]
