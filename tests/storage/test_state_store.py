"""State groups: snapshots, deltas and reading deep chains."""

from __future__ import annotations

from homeserver.core.events import StateKey
from homeserver.storage.db import Database
from homeserver.storage.stores.state import SNAPSHOT_INTERVAL, StateStore


async def _chain(db: Database, store: StateStore, length: int) -> dict[int, dict[StateKey, str]]:
    """Writes ``length`` groups, each changing one entry; returns the expected states."""
    expected: dict[int, dict[StateKey, str]] = {}
    state: dict[StateKey, str] = {}
    prev: int | None = None
    depth = 0
    async with db.write() as txn:
        for group in range(1, length + 1):
            key = ("m.room.member", f"@u{group % 7}:x") if group % 3 else ("m.room.name", "")
            state[key] = f"$e{group}"
            depth = await store.store_group(
                txn,
                group_id=group,
                room_id="!r:x",
                prev_group=prev,
                prev_delta_depth=depth,
                delta={key: f"$e{group}"},
                full_state=state,
            )
            prev = group
            expected[group] = dict(state)
    return expected


async def test_deep_chain_reads_every_group_correctly(db: Database) -> None:
    store = StateStore()
    expected = await _chain(db, store, 2 * SNAPSHOT_INTERVAL + 17)
    async with db.read() as conn:
        for group in (1, 2, SNAPSHOT_INTERVAL - 1, SNAPSHOT_INTERVAL, 150, len(expected)):
            assert await store.get_state(conn, group) == expected[group]


async def test_snapshot_written_every_interval(db: Database) -> None:
    store = StateStore()
    await _chain(db, store, SNAPSHOT_INTERVAL + 5)
    async with db.read() as conn:
        snapshots = await conn.fetch(
            "SELECT id FROM state_groups WHERE prev_group IS NULL ORDER BY id"
        )
        depths = [
            await store.get_group_depth(conn, g)
            for g in (1, 2, SNAPSHOT_INTERVAL, SNAPSHOT_INTERVAL + 1)
        ]
        delta_rows = await conn.fetchval(
            "SELECT COUNT(*) FROM state_group_entries WHERE state_group = 50"
        )
    # A chain never holds SNAPSHOT_INTERVAL deltas: the next group is a snapshot.
    assert [r["id"] for r in snapshots] == [1, SNAPSHOT_INTERVAL + 1]
    assert depths == [0, 1, SNAPSHOT_INTERVAL - 1, 0]
    assert delta_rows == 1


async def test_state_keys_lookup_picks_nearest_delta(db: Database) -> None:
    store = StateStore()
    expected = await _chain(db, store, 40)
    async with db.read() as conn:
        got = await store.get_state_keys(
            conn, 40, [("m.room.name", ""), ("m.room.member", "@u1:x"), ("m.room.topic", "")]
        )
        again = await store.get_state_keys(conn, 40, [("m.room.name", "")])
    assert got == {
        ("m.room.name", ""): expected[40][("m.room.name", "")],
        ("m.room.member", "@u1:x"): expected[40][("m.room.member", "@u1:x")],
    }
    assert again == {("m.room.name", ""): expected[40][("m.room.name", "")]}


async def test_delta_none_removes_entry(db: Database) -> None:
    store = StateStore()
    async with db.write() as txn:
        await store.store_group(
            txn,
            group_id=1,
            room_id="!r:x",
            prev_group=None,
            prev_delta_depth=0,
            delta={},
            full_state={("a", ""): "$1", ("b", ""): "$2"},
        )
        await store.store_group(
            txn,
            group_id=2,
            room_id="!r:x",
            prev_group=1,
            prev_delta_depth=0,
            delta={("a", ""): None},
            full_state={("b", ""): "$2"},
        )
    async with db.read() as conn:
        assert await store.get_state(conn, 2) == {("b", ""): "$2"}


async def test_current_state_and_extremities_replace(db: Database) -> None:
    store = StateStore()
    async with db.write() as txn:
        await store.update_current_state(
            txn,
            "!r:x",
            {("m.room.member", "@a:x"): ("$1", "join"), ("m.room.name", ""): ("$2", None)},
        )
        await store.set_forward_extremities(txn, "!r:x", ["$2"])
    async with db.write() as txn:
        await store.update_current_state(
            txn, "!r:x", {("m.room.member", "@a:x"): ("$3", "leave"), ("m.room.name", ""): None}
        )
        await store.set_forward_extremities(txn, "!r:x", ["$3"])
    async with db.read() as conn:
        assert await store.get_current_state(conn, "!r:x") == {("m.room.member", "@a:x"): "$3"}
        assert await store.get_forward_extremities(conn, "!r:x") == ["$3"]
        assert await store.rooms_for_user(conn, "@a:x", ("join",)) == {}
        assert await store.rooms_for_user(conn, "@a:x", ("leave",)) == {"!r:x": "leave"}
