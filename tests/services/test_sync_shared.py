"""What concurrent /sync requests share: single-flight reads and the
memberships remembered between requests (their invalidation)."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from homeserver.core.events import PDU
from homeserver.core.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.services.clock import FakeClock
from homeserver.services.sync.memberships import MembershipCache
from homeserver.services.sync.shared import SharedReads
from homeserver.storage.db import Connection
from homeserver.storage.stores.events import StoredEvent
from homeserver.storage.stores.sync import MembershipAt


class _Reads:
    """A loader that counts its calls and can be held open."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False
        self.version = 1

    async def load(self, keys: list[str]) -> dict[str, str]:
        self.calls.append(list(keys))
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("read failed")
        return {k: f"{k}@{self.version}" for k in keys}


def _shared(clock: FakeClock, **kwargs: int) -> SharedReads[str, str]:
    return SharedReads(
        clock, max_entries=kwargs.get("max_entries", 10), ttl_ms=kwargs.get("ttl_ms", 1000)
    )


async def test_concurrent_requests_share_one_read() -> None:
    reads = _Reads()
    reads.gate.clear()
    shared = _shared(FakeClock())
    tasks = [asyncio.create_task(shared.get_many(["a", "b"], reads.load)) for _ in range(50)]
    await asyncio.sleep(0)
    reads.gate.set()
    results = await asyncio.gather(*tasks)
    assert results == [{"a": "a@1", "b": "b@1"}] * 50
    assert reads.calls == [["a", "b"]]


async def test_stored_result_is_reused_then_expires() -> None:
    clock = FakeClock()
    reads = _Reads()
    shared = _shared(clock, ttl_ms=1000)
    assert await shared.get_many(["a"], reads.load) == {"a": "a@1"}
    reads.version = 2
    assert await shared.get_many(["a", "b"], reads.load) == {"a": "a@1", "b": "b@2"}
    assert reads.calls == [["a"], ["b"]]
    clock.advance(1.0)
    assert await shared.get_many(["a"], reads.load) == {"a": "a@2"}


async def test_least_recently_used_is_dropped_past_the_bound() -> None:
    reads = _Reads()
    shared = _shared(FakeClock(), max_entries=2)
    await shared.get_many(["a", "b"], reads.load)
    await shared.get_many(["a"], reads.load)  # a is now the most recent
    await shared.get_many(["c"], reads.load)
    assert len(shared) == 2
    reads.calls.clear()
    await shared.get_many(["a", "b", "c"], reads.load)
    assert reads.calls == [["b"]]


async def test_waiter_reads_itself_when_the_shared_read_fails() -> None:
    reads = _Reads()
    reads.gate.clear()
    reads.fail = True
    shared = _shared(FakeClock())
    first = asyncio.create_task(shared.get_many(["a"], reads.load))
    await asyncio.sleep(0)
    second = asyncio.create_task(shared.get_many(["a"], reads.load))
    await asyncio.sleep(0)
    reads.gate.set()
    with pytest.raises(RuntimeError):
        await first
    # The waiter retried on its own (and failed the same way, not silently).
    with pytest.raises(RuntimeError):
        await second
    assert len(reads.calls) == 2
    reads.fail = False
    assert await shared.get_many(["a"], reads.load) == {"a": "a@1"}


async def _reader_and_waiter(
    reads: _Reads,
) -> tuple[asyncio.Task[dict[str, str]], asyncio.Task[dict[str, str]]]:
    """Two requests for the same key while the read is held at its gate:
    the first reads, the second waits for that read."""
    reads.gate.clear()
    shared = _shared(FakeClock())
    first = asyncio.create_task(shared.get_many(["a"], reads.load))
    await asyncio.sleep(0)
    second = asyncio.create_task(shared.get_many(["a"], reads.load))
    await asyncio.sleep(0)
    return first, second


async def test_cancelled_reader_does_not_strand_its_waiters() -> None:
    reads = _Reads()
    first, second = await _reader_and_waiter(reads)
    first.cancel()
    await asyncio.sleep(0)
    reads.gate.set()
    assert await asyncio.wait_for(second, 1) == {"a": "a@1"}
    assert first.cancelled()


async def test_cancelled_waiter_leaves_the_shared_read_alone() -> None:
    reads = _Reads()
    first, waiter = await _reader_and_waiter(reads)
    waiter.cancel()
    await asyncio.sleep(0)
    reads.gate.set()
    assert await first == {"a": "a@1"}
    assert reads.calls == [["a"]]


# --- memberships --------------------------------------------------------------------


#: the hook writes nothing, so it needs no transaction
_NO_TXN = cast(Connection, None)


def _joined(room_id: str, at: int, membership: str = "join") -> MembershipAt:
    return MembershipAt(room_id, membership, f"$m{at}", at, forgotten=False)


def _member_event(user_id: str, at: int) -> StoredEvent:
    version = KNOWN_ROOM_VERSIONS["10"]
    pdu = PDU(
        f"$m{at}",
        version,
        {
            "type": "m.room.member",
            "state_key": user_id,
            "sender": user_id,
            "room_id": "!r:x",
            "content": {"membership": "join"},
        },
    )
    return StoredEvent(pdu=pdu, stream_ordering=at, state_group=None)


async def test_memberships_hold_until_a_member_event_about_the_user() -> None:
    cache = MembershipCache(FakeClock())
    cache.put("@a:x", 10, [_joined("!r:x", 3)])
    assert cache.get("@a:x", 10) == [_joined("!r:x", 3)]
    assert cache.get("@a:x", 25) == [_joined("!r:x", 3)]  # nothing about @a since
    await cache.in_transaction(_NO_TXN, [_member_event("@b:x", 12)])
    assert cache.get("@a:x", 25) == [_joined("!r:x", 3)]
    await cache.in_transaction(_NO_TXN, [_member_event("@a:x", 14)])
    assert cache.get("@a:x", 25) is None


async def test_memberships_read_before_a_change_are_not_trusted_after_it() -> None:
    cache = MembershipCache(FakeClock())
    # A request read at 10 while a member event at 14 was being written.
    await cache.in_transaction(_NO_TXN, [_member_event("@a:x", 14)])
    cache.put("@a:x", 10, [_joined("!r:x", 3)])
    assert cache.get("@a:x", 20) is None
    # Read at 20 (after the change): trusted from then on.
    cache.put("@a:x", 20, [_joined("!r:x", 3), _joined("!s:x", 14)])
    assert cache.get("@a:x", 30) == [_joined("!r:x", 3), _joined("!s:x", 14)]
    # A token older than the change cannot use the newer read.
    assert cache.get("@a:x", 12) is None


async def test_left_room_not_forgotten_is_not_remembered() -> None:
    """``/forget`` changes rows without an event: such lists are read each time."""
    cache = MembershipCache(FakeClock())
    cache.put("@a:x", 10, [_joined("!r:x", 3), _joined("!s:x", 5, "leave")])
    assert cache.get("@a:x", 10) is None
    forgotten = MembershipAt("!s:x", "leave", "$m5", 5, forgotten=True)
    cache.put("@a:x", 10, [_joined("!r:x", 3), forgotten])
    assert cache.get("@a:x", 10) == [_joined("!r:x", 3), forgotten]


async def test_memberships_expire() -> None:
    clock = FakeClock()
    cache = MembershipCache(clock, ttl_ms=1000)
    cache.put("@a:x", 10, [_joined("!r:x", 3)])
    clock.advance(1.0)
    assert cache.get("@a:x", 10) is None


async def test_dropping_notes_distrusts_every_older_read() -> None:
    cache = MembershipCache(FakeClock(), max_users=2)
    cache.put("@a:x", 10, [_joined("!r:x", 3)])
    events = [_member_event(f"@u{i}:x", 20 + i) for i in range(3)]
    await cache.in_transaction(_NO_TXN, events)
    # The notes were dropped to stay bounded: a read from before them is
    # not trusted, a read after them is.
    cache.put("@a:x", 15, [_joined("!r:x", 3)])
    assert cache.get("@a:x", 30) is None
    cache.put("@a:x", 30, [_joined("!r:x", 3)])
    assert cache.get("@a:x", 31) == [_joined("!r:x", 3)]
