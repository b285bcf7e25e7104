"""The notifier: targeted wake-ups, timeouts, cancellation."""

from __future__ import annotations

import asyncio

from homeserver.core.tokens import StreamToken
from homeserver.notifier import Notifier


async def test_room_poke_wakes_waiter_in_that_room() -> None:
    notifier = Notifier(StreamToken(room=5))
    waiting = asyncio.create_task(
        notifier.wait_for_events("@a:x", ["!r:x"], StreamToken(room=5), 10)
    )
    await asyncio.sleep(0)
    notifier.poke("room", 6, rooms=["!r:x"])
    assert await asyncio.wait_for(waiting, 1) is True
    assert notifier.waiter_count() == 0


async def test_poke_in_other_room_does_not_wake() -> None:
    notifier = Notifier(StreamToken(room=5))
    waiting = asyncio.create_task(
        notifier.wait_for_events("@a:x", ["!r:x"], StreamToken(room=5), 0.2)
    )
    await asyncio.sleep(0)
    notifier.poke("room", 6, rooms=["!other:x"])
    assert await waiting is False


async def test_user_poke_wakes_only_that_user() -> None:
    notifier = Notifier()
    a = asyncio.create_task(notifier.wait_for_events("@a:x", [], StreamToken(), 0.3))
    b = asyncio.create_task(notifier.wait_for_events("@b:x", [], StreamToken(), 0.3))
    await asyncio.sleep(0)
    notifier.on_to_device("@a:x", 1)
    assert await asyncio.wait_for(a, 1) is True
    assert await b is False


async def test_membership_event_wakes_target_user() -> None:
    from homeserver.core.events import PDU
    from homeserver.core.room_versions import KNOWN_ROOM_VERSIONS

    notifier = Notifier()
    pdu = PDU(
        "$e",
        KNOWN_ROOM_VERSIONS["10"],
        {
            "type": "m.room.member",
            "state_key": "@invitee:x",
            "room_id": "!r:x",
            "sender": "@a:x",
            "content": {"membership": "invite"},
        },
    )
    waiting = asyncio.create_task(notifier.wait_for_events("@invitee:x", [], StreamToken(), 5))
    await asyncio.sleep(0)
    notifier.on_new_event("!r:x", 1, pdu)
    assert await asyncio.wait_for(waiting, 1) is True


async def test_change_before_wait_returns_immediately() -> None:
    notifier = Notifier()
    notifier.on_receipt("!r:x", 3)
    woke = await notifier.wait_for_events("@a:x", ["!r:x"], StreamToken(receipts=2), 5)
    assert woke is True


async def test_poke_at_or_below_since_does_not_wake() -> None:
    notifier = Notifier(StreamToken(typing=4))
    waiting = asyncio.create_task(
        notifier.wait_for_events("@a:x", ["!r:x"], StreamToken(typing=4), 0.2)
    )
    await asyncio.sleep(0)
    notifier.on_typing("!r:x", 4)
    assert await waiting is False


async def test_timeout_leaves_no_waiter() -> None:
    notifier = Notifier()
    assert await notifier.wait_for_events("@a:x", ["!r:x", "!s:x"], StreamToken(), 0.01) is False
    assert notifier.waiter_count() == 0


async def test_cancelled_wait_leaves_no_waiter() -> None:
    notifier = Notifier()
    waiting = asyncio.create_task(notifier.wait_for_events("@a:x", ["!r:x"], StreamToken(), 30))
    await asyncio.sleep(0)
    assert notifier.waiter_count() == 2
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert notifier.waiter_count() == 0


async def test_thousands_of_waiters_woken_by_one_room_poke() -> None:
    notifier = Notifier()
    tasks = [
        asyncio.create_task(
            notifier.wait_for_events(f"@u{i}:x", [f"!r{i % 10}:x"], StreamToken(), 5)
        )
        for i in range(5000)
    ]
    await asyncio.sleep(0)
    notifier.poke("room", 1, rooms=["!r3:x"])
    done, pending = await asyncio.wait(tasks, timeout=1)
    assert len(done) == 500
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    assert notifier.waiter_count() == 0


def test_changed_since_unknown_before_start_position() -> None:
    notifier = Notifier(StreamToken(room=10))
    assert notifier.changed_since("room", 3, rooms=["!r:x"]) is True
    assert notifier.changed_since("room", 10, rooms=["!r:x"]) is False
    notifier.poke("room", 11, rooms=["!r:x"])
    assert notifier.rooms_changed_since("room", 10, ["!r:x", "!s:x"]) == {"!r:x"}


async def test_shutdown_ends_waiting_long_polls_at_once() -> None:
    notifier = Notifier(StreamToken())
    waiting = asyncio.create_task(
        notifier.wait_for_events("@a:x", ["!r:x"], StreamToken(), timeout_s=30)
    )
    await asyncio.sleep(0.01)
    notifier.shutdown()
    await asyncio.wait_for(waiting, 1.0)
    # After shutdown a new long-poll does not wait at all.
    assert await notifier.wait_for_events("@a:x", [], StreamToken(), timeout_s=30) is False
