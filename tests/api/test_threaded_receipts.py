"""Threaded read receipts and unread counts in ``/sync`` (spec "Threaded read
receipts", MSC3771/MSC3773), following Complement's TestThreadedReceipts.

The timeline, sent by alice; bob reads it::

    A <-- B <-- C <-- E   m.thread to A (C mentions bob)
    D                     main timeline (mentions bob)
    F                     m.reference to A
    G                     m.annotation to F (a reaction: no notification)
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import User, shared_room

_THREADED = json.dumps({"room": {"timeline": {"unread_thread_notifications": True}}})


async def _send(user: User, room_id: str, content: dict[str, Any], txn: str) -> str:
    event_type = (
        "m.room.reaction" if content.get("m.relates_to", {}).get("key") else "m.room.message"
    )
    data = await user.ok("PUT", f"/rooms/{room_id}/send/{event_type}/{txn}", content)
    event_id: str = data["event_id"]
    return event_id


def _in_thread(root: str, body: str) -> dict[str, Any]:
    return {
        "msgtype": "m.text",
        "body": body,
        "m.relates_to": {"event_id": root, "rel_type": "m.thread"},
    }


async def _counts(
    bob: User, room_id: str, since: str, *, threaded: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    params = {"since": since, "timeout": "0"}
    if threaded:
        params["filter"] = _THREADED
    data = await bob.ok("GET", "/sync", params=params)
    room = data["rooms"]["join"][room_id]
    return room["unread_notifications"], room.get("unread_thread_notifications")


def _n(notifications: int, highlights: int) -> dict[str, int]:
    return {"notification_count": notifications, "highlight_count": highlights}


async def test_threaded_and_unthreaded_receipts_each_clear_their_own_threads(
    client: TestClient[Any, Any],
) -> None:
    alice, bob, room_id = await shared_room(client)
    since = (await bob.ok("GET", "/sync"))["next_batch"]

    a = await _send(alice, room_id, {"msgtype": "m.text", "body": "Hello world!"}, "a")
    b = await _send(alice, room_id, _in_thread(a, "Start thread!"), "b")
    await _send(alice, room_id, _in_thread(a, f"Thread response {bob.user_id}!"), "c")
    d = await _send(alice, room_id, {"msgtype": "m.text", "body": f"Hello {bob.user_id}!"}, "d")
    await _send(alice, room_id, _in_thread(a, "End thread"), "e")
    reference = {"event_id": a, "rel_type": "m.reference"}
    f = await _send(
        alice, room_id, {"msgtype": "m.text", "body": "Reference!", "m.relates_to": reference}, "f"
    )
    annotation = {"event_id": f, "rel_type": "m.annotation", "key": "test"}
    g = await _send(alice, room_id, {"m.relates_to": annotation}, "g")

    async def expect(
        total: dict[str, int], main: dict[str, int], thread: dict[str, int] | None
    ) -> None:
        assert await _counts(bob, room_id, since, threaded=False) == (total, None)
        expected_threads = {a: thread} if thread is not None else None
        assert await _counts(bob, room_id, since, threaded=True) == (main, expected_threads)

    await expect(_n(6, 2), _n(3, 1), _n(3, 1))
    # a receipt in the main timeline reads A only
    await bob.ok("POST", f"/rooms/{room_id}/receipt/m.read/{a}", {"thread_id": "main"})
    await expect(_n(5, 2), _n(2, 1), _n(3, 1))
    # a receipt in the thread reads B only
    await bob.ok("POST", f"/rooms/{room_id}/receipt/m.read/{b}", {"thread_id": a})
    await expect(_n(4, 2), _n(2, 1), _n(2, 1))
    # an unthreaded receipt reads everything up to D, in every thread
    await bob.ok("POST", f"/rooms/{room_id}/receipt/m.read/{d}", {})
    await expect(_n(2, 0), _n(1, 0), _n(1, 0))
    # a receipt in the thread at a later event of the main timeline reads the
    # whole thread, and leaves the main timeline as it was
    await bob.ok("POST", f"/rooms/{room_id}/receipt/m.read/{g}", {"thread_id": a})
    await expect(_n(1, 0), _n(1, 0), None)


async def test_a_relation_to_a_thread_reply_counts_in_that_thread(
    client: TestClient[Any, Any],
) -> None:
    alice, bob, room_id = await shared_room(client)
    since = (await bob.ok("GET", "/sync"))["next_batch"]
    root = await _send(alice, room_id, {"msgtype": "m.text", "body": "root"}, "root")
    reply = await _send(alice, room_id, _in_thread(root, "reply"), "reply")
    reference = {"event_id": reply, "rel_type": "m.reference"}
    await _send(
        alice, room_id, {"msgtype": "m.text", "body": "see", "m.relates_to": reference}, "ref"
    )
    # as Synapse: an event related to a thread reply is in the reply's thread
    assert await _counts(bob, room_id, since, threaded=True) == (_n(1, 0), {root: _n(2, 0)})
