"""The SQLite driver's choice between running a statement on the event loop
(inline) and on the connection's thread, its ordering guarantees, and the
background checkpoint."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homeserver.storage.db import sqlite as driver
from homeserver.storage.db.sqlite import SqliteConnection, SqliteDatabase

#: a statement that costs tens of milliseconds of CPU inside SQLite
HEAVY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000) "
    "SELECT COUNT(*) FROM c"
)


def _connections(db: SqliteDatabase) -> list[SqliteConnection]:
    return [db._writer, *db._readers]


async def _register(db: SqliteDatabase, name: str, fn: object, nargs: int) -> None:
    """Adds a SQL function to every connection (on its own thread)."""
    for conn in _connections(db):
        await conn._thread.call(conn._raw.create_function, name, nargs, fn)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = await SqliteDatabase.open(tmp_path / "inline.db", readers=2)
    await _register(db, "thread_id", threading.get_ident, 0)
    await _register(db, "pause_ms", lambda ms: time.sleep(ms / 1000) or ms, 1)
    async with db.write() as conn:
        await conn.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT)")
    yield db
    await db.close()


async def _thread_of(db: SqliteDatabase, sql: str) -> int:
    async with db.read() as conn:
        return int(await conn.fetchval(sql))


async def _until_inline(db: SqliteDatabase, sql: str, ms: int, tries: int = 40) -> bool:
    """Runs ``sql`` until a run happens on the loop's thread (a busy machine
    can make one run look slow, which sends the next few to the thread)."""
    for _ in range(tries):
        await asyncio.sleep(0)  # the loop goes round: a fresh inline slice
        if await _fetch_thread(db, sql, ms) == threading.get_ident():
            return True
    return False


async def test_quick_statement_runs_on_the_loop_once_its_cost_is_known(
    sqlite_db: SqliteDatabase,
) -> None:
    sql = "SELECT thread_id() FROM (SELECT $1 AS quick_probe) AS q"
    assert await _fetch_thread(sqlite_db, sql, 0) != threading.get_ident()  # never seen
    assert await _until_inline(sqlite_db, sql, 0)


async def test_heavy_statement_stays_on_the_thread(sqlite_db: SqliteDatabase) -> None:
    loop_thread = threading.get_ident()
    sql = f"SELECT thread_id() FROM ({HEAVY}) AS heavy_probe"
    threads = [await _thread_of(sqlite_db, sql) for _ in range(3)]
    assert loop_thread not in threads


async def test_statement_slow_inline_goes_back_to_the_thread(sqlite_db: SqliteDatabase) -> None:
    loop_thread = threading.get_ident()
    sql = "SELECT thread_id() FROM (SELECT pause_ms($1)) AS pause_probe"
    assert await _fetch_thread(sqlite_db, sql, 0) != loop_thread  # unknown yet
    # Known quick: the same SQL now blocks the loop for 30 ms on one run.
    slow_ran_inline = False
    for _ in range(10):
        assert await _until_inline(sqlite_db, sql, 0)
        await asyncio.sleep(0)
        if await _fetch_thread(sqlite_db, sql, 30) == loop_thread:
            slow_ran_inline = True
            break
    assert slow_ran_inline
    # That run is noted: the next runs go to the thread until the
    # remembered cost has decayed below the threshold.
    after = [await _fetch_thread(sqlite_db, sql, 0) for _ in range(5)]
    assert loop_thread not in after


async def _fetch_thread(db: SqliteDatabase, sql: str, ms: int) -> int:
    async with db.read() as conn:
        return int(await conn.fetchval(sql, ms))


async def _insert_then_fail(db: SqliteDatabase, insert: str, row_id: int) -> None:
    async with db.write() as conn:
        await conn.execute(insert, row_id)
        raise LookupError


async def test_cancelled_thread_statement_still_runs_before_the_rollback(
    sqlite_db: SqliteDatabase,
) -> None:
    insert = "INSERT INTO t (id, body) VALUES ($1, 'x')"
    for i in range(3):  # known quick: runs inline from now on
        async with sqlite_db.write() as conn:
            await conn.execute(insert, i)
        with pytest.raises(LookupError):  # so is ROLLBACK
            await _insert_then_fail(sqlite_db, insert, 10 + i)
    started = asyncio.Event()

    async def doomed() -> None:
        async with sqlite_db.write() as conn:
            await conn.execute(insert, 100)
            started.set()
            # unknown SQL, 200 ms on the thread; cancelled while it runs
            await conn.execute(
                "INSERT INTO t (id, body) SELECT 200 + pause_ms(200), 'slow' AS doomed_probe"
            )

    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(doomed())
    await started.wait()
    await asyncio.sleep(0.05)
    ticker = asyncio.create_task(tick())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ticker.cancel()
    # The ROLLBACK was queued behind the running statement rather than run
    # inline, where it would have blocked the loop until that one finished.
    assert ticks >= 5
    async with sqlite_db.write() as conn:
        await conn.execute(insert, 3)
    async with sqlite_db.read() as conn:
        ids = [r[0] for r in await conn.fetch("SELECT id FROM t ORDER BY id")]
    assert ids == [0, 1, 2, 3]


async def test_write_waits_for_another_process_without_blocking_the_loop(
    sqlite_db: SqliteDatabase,
) -> None:
    insert = "INSERT INTO t (id, body) VALUES ($1, 'x')"
    for i in range(3):
        async with sqlite_db.write() as conn:
            await conn.execute(insert, i)
    other = sqlite3.connect(sqlite_db.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t (id, body) VALUES (50, 'other')")

        async def write() -> None:
            async with sqlite_db.write() as conn:
                await conn.execute(insert, 3)

        task = asyncio.create_task(write())
        started = time.perf_counter()
        for _ in range(20):
            await asyncio.sleep(0.01)
        # The loop kept running (an inline BEGIN would have blocked it for
        # the whole busy timeout, 5 s, and then failed).
        assert time.perf_counter() - started < 2
        assert not task.done()  # still waiting for the lock, on the thread
        other.execute("COMMIT")
        await asyncio.wait_for(task, timeout=10)
    finally:
        other.close()
    async with sqlite_db.read() as conn:
        ids = [r[0] for r in await conn.fetch("SELECT id FROM t ORDER BY id")]
    assert ids == [0, 1, 2, 3, 50]


async def test_checkpoint_copies_the_wal_back_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(driver, "CHECKPOINT_COMMITS", 5)
    path = tmp_path / "ckpt.db"
    db = await SqliteDatabase.open(path, readers=1)
    try:
        async with db.write() as conn:
            await conn.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT)")
        size_before = path.stat().st_size
        for batch in range(4):
            async with db.write() as conn:
                await conn.executemany(
                    "INSERT INTO t (id, body) VALUES ($1, $2)",
                    [(batch * 100 + i, "x" * 1000) for i in range(100)],
                )
        # The writer never checkpoints itself: the rows are only in the WAL.
        assert path.stat().st_size == size_before
        async with db.write() as conn:
            await conn.execute("INSERT INTO t (id, body) VALUES (1000, 'last')")
        assert db._checkpointing is not None
        await db._checkpointing
        assert path.stat().st_size > size_before + 300_000
        async with db.read() as conn:
            assert await conn.fetchval("SELECT COUNT(*) FROM t") == 401
    finally:
        await db.close()


def test_cost_memory_decays_after_a_slow_run() -> None:
    costs = driver._Costs()
    assert not costs.quick("q")  # unknown
    costs.note("q", 0.00001)
    assert costs.quick("q")
    costs.note("q", 0.02)
    slow_runs = 0
    while not costs.quick("q"):
        costs.note("q", 0.00001)
        slow_runs += 1
    # 20 ms decays below the threshold in a bounded number of runs
    assert 5 <= slow_runs <= 15


def _size(path: Path) -> int:
    return path.stat().st_size


async def test_wal_stays_bounded_under_a_steady_stream_of_writes(tmp_path: Path) -> None:
    path = tmp_path / "steady.db"
    db = await SqliteDatabase.open(path, readers=2)
    wal = Path(f"{path}-wal")
    try:
        async with db.write() as conn:
            await conn.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT)")
        stop = asyncio.Event()

        async def reader() -> None:
            while not stop.is_set():
                async with db.read() as conn:
                    await conn.fetchval("SELECT COUNT(*) FROM t")
                await asyncio.sleep(0)

        readers = [asyncio.create_task(reader()) for _ in range(2)]
        largest = 0
        for i in range(3000):
            async with db.write() as conn:
                await conn.execute("INSERT INTO t (id, body) VALUES ($1, $2)", i, "x" * 1000)
            largest = max(largest, _size(wal))
        stop.set()
        await asyncio.gather(*readers)
        # 3000 commits of about 1 KB each would be 12 MB or more of WAL if it
        # were never started over; checkpoints keep it to about 100 commits.
        assert largest < 4_000_000
        async with db.read() as conn:
            assert await conn.fetchval("SELECT COUNT(*) FROM t") == 3000
    finally:
        await db.close()


async def test_long_run_of_inline_statements_lets_other_tasks_in(
    sqlite_db: SqliteDatabase,
) -> None:
    sql = "SELECT COUNT(*) FROM t WHERE body = $1 AND 'slice_probe' <> ''"
    for _ in range(3):
        await _fetch_count(sqlite_db, sql)  # known quick from now on
    ran = 0

    async def other() -> None:
        nonlocal ran
        while True:
            ran += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    ran = 0
    started = time.perf_counter()
    async with sqlite_db.read() as conn:
        for _ in range(3000):
            await conn.fetchval(sql, "x")
    elapsed = time.perf_counter() - started
    task.cancel()
    # Without slices the loop of reads never yields and ``other`` never runs.
    assert ran >= elapsed / (driver.INLINE_SLICE_S * 4)
    assert ran >= 2


async def _fetch_count(db: SqliteDatabase, sql: str) -> int:
    async with db.read() as conn:
        return int(await conn.fetchval(sql, "x"))
