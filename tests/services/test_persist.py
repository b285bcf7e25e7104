"""Persisting events: atomic on failure, stream positions only after commit."""

from __future__ import annotations

from pathlib import Path

import pytest
from signedjson.key import generate_signing_key

from homeserver.config import load_config
from homeserver.core.errors import Forbidden
from homeserver.services.clock import FakeClock
from homeserver.services.ratelimit import RateLimiter
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms, build_rooms
from homeserver.services.rooms.create import CreateRoomRequest
from homeserver.services.rooms.persist import NewEvent, TxnKey
from homeserver.storage.db import Connection, Database
from homeserver.storage.streams import StreamIdGenerator

ALICE = Requester("@alice:test.local", "DEV")


@pytest.fixture
async def rooms(db: Database, tmp_path: Path) -> Rooms:
    config = load_config(
        None,
        environ={},
        overrides={
            "server_name": "test.local",
            "data_dir": str(tmp_path),
            "rate_limits": {"enabled": False},
        },
    )
    clock = FakeClock()
    built, _ = await build_rooms(
        config, db, clock, generate_signing_key("t1"), RateLimiter(config.rate_limits, clock)
    )
    return built


async def _count(db: Database, sql: str, *args: object) -> int:
    async with db.read() as conn:
        return int(await conn.fetchval(sql, *args))


async def test_failure_at_end_of_persist_leaves_nothing(db: Database, rooms: Rooms) -> None:
    room_id, _ = await rooms.create.create_room(ALICE, CreateRoomRequest())
    snapshot = await rooms.cache.room(room_id)
    assert snapshot is not None
    before_events = await _count(db, "SELECT COUNT(*) FROM events")
    before_groups = await _count(db, "SELECT COUNT(*) FROM state_groups")
    extremities = list(snapshot.extremities)
    pdu = await rooms.send.build(snapshot, ALICE.user_id, "m.room.topic", {"topic": "t"}, "")
    txn = TxnKey(ALICE.user_id, "DEV", "/p", "1")

    async def fail(_: Connection) -> None:
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        await rooms.persister.persist(snapshot, [NewEvent(pdu, txn=txn)], extra_writes=fail)

    assert await _count(db, "SELECT COUNT(*) FROM events") == before_events
    assert await _count(db, "SELECT COUNT(*) FROM state_groups") == before_groups
    assert await _count(db, "SELECT COUNT(*) FROM event_txn_ids") == 0
    assert (
        await _count(db, "SELECT COUNT(*) FROM current_state_events WHERE type = 'm.room.topic'")
        == 0
    )
    cached = await rooms.cache.room(room_id)
    assert cached is not None
    assert cached.extremities == extremities
    assert ("m.room.topic", "") not in cached.state
    assert await rooms.cache.event(pdu.event_id) is None
    # The room still works and builds on the old extremity.
    sent = await rooms.send.send(
        ALICE.user_id, room_id, "m.room.topic", {"topic": "u"}, state_key=""
    )
    assert list(sent.prev_event_ids) == extremities


async def test_failure_in_middle_of_batch_rolls_back_earlier_events(
    db: Database, rooms: Rooms
) -> None:
    room_id, _ = await rooms.create.create_room(ALICE, CreateRoomRequest())
    snapshot = await rooms.cache.room(room_id)
    assert snapshot is not None
    before = await _count(db, "SELECT COUNT(*) FROM events")
    pdu = await rooms.send.build(snapshot, ALICE.user_id, "m.room.message", {"body": "x"})
    # The same event twice: the second insert breaks the unique event_id.
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await rooms.persister.persist(snapshot, [NewEvent(pdu), NewEvent(pdu)])
    assert await _count(db, "SELECT COUNT(*) FROM events") == before
    assert (
        await _count(
            db, "SELECT COUNT(*) FROM room_forward_extremities WHERE event_id = $1", pdu.event_id
        )
        == 0
    )


async def test_failed_create_room_leaves_no_room(db: Database, rooms: Rooms) -> None:
    with pytest.raises(Exception, match="not allowed"):
        await rooms.create.create_room(
            ALICE,
            CreateRoomRequest(name="n", power_level_content_override={"users": {}}),
        )
    assert await _count(db, "SELECT COUNT(*) FROM rooms") == 0
    assert await _count(db, "SELECT COUNT(*) FROM events") == 0


async def test_send_in_big_room_reads_no_full_state(db: Database, rooms: Rooms) -> None:
    room_id, _ = await rooms.create.create_room(ALICE, CreateRoomRequest(preset="public_chat"))
    for i in range(30):
        await rooms.membership.join(Requester(f"@u{i}:test.local", "D"), room_id)
    sent = await rooms.send.send(ALICE.user_id, room_id, "m.room.message", {"body": "hi"})
    snapshot = await rooms.cache.room(room_id)
    assert snapshot is not None
    assert snapshot.extremities == [sent.event_id]
    assert len([m for m in snapshot.memberships.values() if m == "join"]) == 31
    # Auth events of a message: create, power levels, the sender's membership.
    assert len(sent.auth_event_ids) == 3


async def test_not_member_send_is_forbidden(rooms: Rooms) -> None:
    room_id, _ = await rooms.create.create_room(ALICE, CreateRoomRequest())
    with pytest.raises(Forbidden, match="sender_joined"):
        await rooms.send.send("@bob:test.local", room_id, "m.room.message", {"body": "x"})


def test_stream_position_waits_for_unfinished_positions() -> None:
    stream = StreamIdGenerator(10)
    first, second = stream.allocate(), stream.allocate()
    assert (first, second) == (11, 12)
    stream.finish(second)
    assert stream.current_position() == 10
    stream.finish(first)
    assert stream.current_position() == 12


def test_stream_allocating_block_finishes_on_error() -> None:
    stream = StreamIdGenerator(0)

    def fail_after_allocating() -> None:
        with stream.allocating() as positions:
            positions.next()
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_after_allocating()
    assert stream.current_position() == 1
