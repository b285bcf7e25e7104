"""The Database drivers, run against both backends through the ``db`` fixture."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from homeserver.storage.db import Database
from homeserver.storage.db.open import open_database, split_postgres_url, sqlite_path
from homeserver.storage.db.sqlite import rewrite_placeholders

PROBE_TABLE = """CREATE TABLE probe (
    id BIGINT PRIMARY KEY,
    name TEXT,
    flag BOOLEAN,
    big BIGINT
)"""


@pytest.fixture
async def probe(db: Database) -> Database:
    async with db.write() as conn:
        await conn.execute(PROBE_TABLE)
    return db


async def test_values_round_trip_text_bigint_boolean_null(probe: Database) -> None:
    async with probe.write() as conn:
        await conn.execute(
            "INSERT INTO probe (id, name, flag, big) VALUES ($1, $2, $3, $4)",
            1,
            "héllo 'quoted' $1",
            True,
            2**62,
        )
        await conn.execute(
            "INSERT INTO probe (id, name, flag, big) VALUES ($1, $2, $3, $4)", 2, None, False, None
        )
    async with probe.read() as conn:
        rows = await conn.fetch("SELECT id, name, flag, big FROM probe ORDER BY id")
    assert [tuple(row) for row in rows] == [
        (1, "héllo 'quoted' $1", True, 2**62),
        (2, None, False, None),
    ]
    assert rows[0]["flag"] is True
    assert rows[1]["flag"] is False
    assert rows[0]["name"] == rows[0][1]
    assert list(rows[0].keys()) == ["id", "name", "flag", "big"]


async def test_placeholders_bind_by_number_when_reused_and_reordered(probe: Database) -> None:
    async with probe.write() as conn:
        await conn.execute("INSERT INTO probe (id, big, name) VALUES ($2, $1, $3)", 10, 7, "x")
    async with probe.read() as conn:
        row = await conn.fetchrow(
            "SELECT id, big FROM probe WHERE id = $1 AND (big = $2 OR big = $2) AND name <> '$1'",
            7,
            10,
        )
    assert row is not None
    assert (row["id"], row["big"]) == (7, 10)


async def test_write_rolls_back_when_block_raises(probe: Database) -> None:
    async def failing_write() -> None:
        async with probe.write() as conn:
            await conn.execute("INSERT INTO probe (id, name) VALUES ($1, $2)", 1, "gone")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing_write()
    async with probe.read() as conn:
        assert await conn.fetchval("SELECT COUNT(*) FROM probe") == 0
    # The writer is usable again afterwards.
    async with probe.write() as conn:
        await conn.execute("INSERT INTO probe (id, name) VALUES ($1, $2)", 1, "kept")
    async with probe.read() as conn:
        assert await conn.fetchval("SELECT name FROM probe WHERE id = $1", 1) == "kept"


async def test_write_rolls_back_when_statement_fails(probe: Database) -> None:
    async with probe.write() as conn:
        await conn.execute("INSERT INTO probe (id) VALUES ($1)", 1)

    async def conflicting_write() -> None:
        async with probe.write() as conn:
            await conn.execute("INSERT INTO probe (id) VALUES ($1)", 2)
            await conn.execute("INSERT INTO probe (id) VALUES ($1)", 1)

    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await conflicting_write()
    async with probe.read() as conn:
        assert await conn.fetchval("SELECT COUNT(*) FROM probe") == 1


async def test_reads_see_committed_state_while_write_is_open(probe: Database) -> None:
    async with probe.write() as conn:
        await conn.execute("INSERT INTO probe (id, name) VALUES ($1, $2)", 1, "before")

    inside = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with probe.write() as conn:
            await conn.execute("UPDATE probe SET name = $1 WHERE id = $2", "after", 1)
            await conn.execute("INSERT INTO probe (id, name) VALUES ($1, $2)", 2, "new")
            inside.set()
            await release.wait()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(writer())
        await inside.wait()

        async def read_names() -> list[str]:
            async with probe.read() as conn:
                return [r[0] for r in await conn.fetch("SELECT name FROM probe ORDER BY id")]

        during = await asyncio.wait_for(
            asyncio.gather(read_names(), read_names(), read_names()), timeout=5
        )
        release.set()

    assert list(during) == [["before"]] * 3
    assert await read_names() == ["after", "new"]


async def test_read_modify_write_is_atomic_when_concurrent(probe: Database) -> None:
    async with probe.write() as conn:
        await conn.execute("INSERT INTO probe (id, big) VALUES ($1, $2)", 1, 0)
    # SQLite has one writer; PostgreSQL writers run in parallel and need the row lock.
    lock = " FOR UPDATE" if probe.dialect.is_postgres else ""

    async def bump() -> None:
        async with probe.write() as conn:
            value = await conn.fetchval(f"SELECT big FROM probe WHERE id = $1{lock}", 1)
            await asyncio.sleep(0)
            await conn.execute("UPDATE probe SET big = $1 WHERE id = $2", value + 1, 1)

    await asyncio.gather(*(bump() for _ in range(20)))
    async with probe.read() as conn:
        assert await conn.fetchval("SELECT big FROM probe WHERE id = $1", 1) == 20


async def test_returning_gives_inserted_row(probe: Database) -> None:
    async with probe.write() as conn:
        row = await conn.fetchrow(
            "INSERT INTO probe (id, name, flag) VALUES ($1, $2, $3) RETURNING id, name, flag",
            5,
            "r",
            True,
        )
    assert row is not None
    assert (row["id"], row["name"], bool(row["flag"])) == (5, "r", True)


async def test_on_conflict_upsert_updates_existing_row(probe: Database) -> None:
    sql = probe.dialect.upsert("probe", ["id"], ["name", "flag"])
    async with probe.write() as conn:
        assert await conn.execute(sql, 1, "first", False) == 1
        assert await conn.execute(sql, 1, "second", True) == 1
        await conn.execute(probe.dialect.upsert("probe", ["id"], []), 1)
    async with probe.read() as conn:
        rows = await conn.fetch("SELECT id, name, flag FROM probe")
    assert [tuple(r) for r in rows] == [(1, "second", True)]


async def test_execute_returns_affected_row_count(probe: Database) -> None:
    async with probe.write() as conn:
        await conn.executemany(
            "INSERT INTO probe (id, name) VALUES ($1, $2)", [(i, f"n{i}") for i in range(5)]
        )
        updated = await conn.execute("UPDATE probe SET flag = $1 WHERE id < $2", True, 3)
        deleted = await conn.execute("DELETE FROM probe WHERE id >= $1", 4)
        none = await conn.execute("DELETE FROM probe WHERE id = $1", 99)
    assert (updated, deleted, none) == (3, 1, 0)


async def test_executemany_inserts_every_row(probe: Database) -> None:
    async with probe.write() as conn:
        await conn.executemany(
            "INSERT INTO probe (id, name, flag) VALUES ($1, $2, $3)",
            [(1, "a", True), (2, "b", False), (3, None, None)],
        )
    async with probe.read() as conn:
        rows = await conn.fetch("SELECT id, name, flag FROM probe ORDER BY id")
    assert [tuple(r) for r in rows] == [(1, "a", True), (2, "b", False), (3, None, None)]


async def test_fetchval_and_fetchrow_return_none_when_no_row(probe: Database) -> None:
    async with probe.read() as conn:
        assert await conn.fetchval("SELECT name FROM probe WHERE id = $1", 1) is None
        assert await conn.fetchrow("SELECT name FROM probe WHERE id = $1", 1) is None
        assert await conn.fetch("SELECT name FROM probe") == []


async def test_empty_write_commits_nothing_and_frees_writer(probe: Database) -> None:
    async with probe.write():
        pass
    async with probe.write() as conn:
        await conn.execute("INSERT INTO probe (id) VALUES ($1)", 1)
    async with probe.read() as conn:
        assert await conn.fetchval("SELECT COUNT(*) FROM probe") == 1


async def test_dialect_helpers_evaluate_on_backend(probe: Database) -> None:
    d = probe.dialect
    async with probe.read() as conn:
        now = await conn.fetchval(f"SELECT {d.now_ms}")
        most = await conn.fetchval(f"SELECT {d.greatest('3', '7', '5')}")
        fewest = await conn.fetchval(f"SELECT {d.least('3', '7', '5')}")
    assert 1_600_000_000_000 < now < 5_000_000_000_000
    assert (most, fewest) == (7, 3)


async def test_write_cancelled_mid_transaction_leaves_nothing(probe: Database) -> None:
    started = asyncio.Event()

    async def doomed() -> None:
        async with probe.write() as conn:
            await conn.execute("INSERT INTO probe (id) VALUES ($1)", 1)
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(doomed())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with probe.write() as conn:
        await conn.execute("INSERT INTO probe (id) VALUES ($1)", 2)
    async with probe.read() as conn:
        assert [r[0] for r in await conn.fetch("SELECT id FROM probe")] == [2]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT $1, $12", "SELECT ?1, ?12"),
        ("SELECT '$1', \"$2\", $3 -- $4\n", "SELECT '$1', \"$2\", ?3 -- $4\n"),
        ("SELECT 'it''s $1' || $2 /* $3 */", "SELECT 'it''s $1' || ?2 /* $3 */"),
    ],
)
def test_placeholder_rewrite_skips_strings_and_comments(sql: str, expected: str) -> None:
    assert rewrite_placeholders(sql) == expected


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/hs.db", "data/hs.db"),
        ("sqlite:////var/lib/hs/hs.db", "/var/lib/hs/hs.db"),
        ("data/hs.db", "data/hs.db"),
        ("/abs/hs.db", "/abs/hs.db"),
    ],
)
def test_sqlite_path_follows_sqlalchemy_slashes(url: str, path: str) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", [":memory:", "sqlite://host/x.db", "sqlite:///"])
def test_sqlite_path_rejected_when_not_a_file(url: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)sqlite"):
        sqlite_path(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@h:5/db?search_path=t_a&sslmode=disable",
        "postgres://u@h:5/db?options=-csearch_path%3Dt_a&sslmode=disable",
        "postgresql://u@h:5/db?sslmode=disable&options=-c%20search_path%3Dt_a",
    ],
)
def test_postgres_url_yields_search_path_when_given(url: str) -> None:
    dsn, search_path, settings = split_postgres_url(url)
    assert search_path == "t_a"
    assert settings == {}
    assert dsn.endswith("/db?sslmode=disable")


async def test_sqlite_reader_refuses_writes(tmp_path: Path) -> None:
    db = await open_database(str(tmp_path / "r.db"), readers=1)
    try:
        async with db.write() as conn:
            await conn.execute("CREATE TABLE t (x BIGINT)")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            async with db.read() as conn:
                await conn.execute("INSERT INTO t (x) VALUES ($1)", 1)
    finally:
        await db.close()
