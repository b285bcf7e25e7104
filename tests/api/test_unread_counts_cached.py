"""Unread counts remembered between syncs: after any mix of messages,
mentions, thread replies, receipts, leaves, rejoins and purges, the counts
``/sync`` gets (earlier counts plus what came after) equal a full count."""

from __future__ import annotations

import itertools
import random
from typing import Any

from aiohttp.test_utils import TestClient

from homeserver.storage.stores.admin import AdminStore
from tests.api.helpers import services_of
from tests.api.rooms_helpers import User, new_user

_txns = itertools.count()


async def _send(user: User, room_id: str, content: dict[str, Any]) -> str:
    data = await user.ok("PUT", f"/rooms/{room_id}/send/m.room.message/c{next(_txns)}", content)
    event_id: str = data["event_id"]
    return event_id


def _position(client: TestClient[Any, Any]) -> int:
    return services_of(client).rooms.persister.event_stream.current_position()


async def _check_all(
    client: TestClient[Any, Any], users: list[User], room_ids: list[str]
) -> list[dict[str, dict[str, tuple[int, int]]]]:
    push = services_of(client).push
    seen = []
    for user in users:
        remembered = await push.thread_counts_many(user.user_id, room_ids, _position(client))
        full = await push.thread_counts_many(user.user_id, room_ids)
        assert remembered == full, user.user_id
        seen.append(full)
    return seen


async def test_remembered_counts_equal_full_counts_through_random_changes(
    client: TestClient[Any, Any],
) -> None:
    rng = random.Random(20261129)
    owner = await new_user(client, "owner")
    rooms = [await owner.create_room(preset="public_chat") for _ in range(2)]
    members = [await new_user(client, f"member{i}") for i in range(3)]
    for member in members:
        for room_id in rooms:
            await member.join(room_id)
    everyone = [owner, *members]
    joined = {(u.user_id, r) for u in everyone for r in rooms}
    sent: dict[str, list[str]] = {r: [] for r in rooms}
    roots: dict[str, list[str]] = {r: [] for r in rooms}
    nonzero = 0
    for step in range(80):
        room_id = rng.choice(rooms)
        actor = rng.choice(everyone)
        op = rng.choice(["text", "text", "text", "mention", "thread", "receipt", "leave"])
        if (actor.user_id, room_id) not in joined:
            await actor.join(room_id)
            joined.add((actor.user_id, room_id))
        elif op == "text":
            event_id = await _send(actor, room_id, {"msgtype": "m.text", "body": f"m{step}"})
            sent[room_id].append(event_id)
            roots[room_id].append(event_id)
        elif op == "mention":
            target = rng.choice(everyone)
            content = {
                "msgtype": "m.text",
                "body": f"hey {target.user_id}",
                "m.mentions": {"user_ids": [target.user_id]},
            }
            sent[room_id].append(await _send(actor, room_id, content))
        elif op == "thread" and roots[room_id]:
            content = {
                "msgtype": "m.text",
                "body": f"reply {step}",
                "m.relates_to": {"rel_type": "m.thread", "event_id": rng.choice(roots[room_id])},
            }
            sent[room_id].append(await _send(actor, room_id, content))
        elif op == "receipt" and sent[room_id]:
            event_id = rng.choice(sent[room_id][-6:])
            receipt_type = rng.choice(["m.read", "m.read.private"])
            # unthreaded, the main timeline's, or a thread's (spec: threaded receipts)
            thread_id = rng.choice([None, "main", *roots[room_id][-2:]])
            body = {} if thread_id is None else {"thread_id": thread_id}
            await actor.ok("POST", f"/rooms/{room_id}/receipt/{receipt_type}/{event_id}", body)
        elif op == "leave" and actor is not owner:
            await actor.ok("POST", f"/rooms/{room_id}/leave", {})
            joined.discard((actor.user_id, room_id))
        seen = await _check_all(client, everyone, rooms)
        nonzero += sum(1 for counts in seen if counts)
    assert nonzero > 50  # the walk did leave members with unread notifications


async def test_purge_of_history_is_not_counted_from_memory(
    client: TestClient[Any, Any],
) -> None:
    owner = await new_user(client, "purger")
    reader = await new_user(client, "lurker")
    room_id = await owner.create_room(preset="public_chat")
    await reader.join(room_id)
    for i in range(6):
        await _send(owner, room_id, {"msgtype": "m.text", "body": f"old {i}"})
    [before] = await _check_all(client, [reader], [room_id])
    assert before[room_id]["main"][0] == 6
    # A purge deletes notification rows below the remembered position.
    db = services_of(client).db
    async with db.write() as txn:
        await AdminStore().purge_history_before(txn, room_id, _position(client))
    await _send(owner, room_id, {"msgtype": "m.text", "body": "new"})
    [after] = await _check_all(client, [reader], [room_id])
    # the newest old message stays (a purge keeps the room's last event)
    assert after[room_id]["main"][0] == 2
