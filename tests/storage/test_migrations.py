"""Schema migrations over both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeserver.storage.db import Database
from homeserver.storage.db.migrate import (
    SCHEMA_VERSION,
    MigrationError,
    SchemaTooNewError,
    load_deltas,
    migrate,
    split_sqlite_script,
)


def write_deltas(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


async def applied_versions(db: Database) -> list[int]:
    async with db.read() as conn:
        return [
            r[0] for r in await conn.fetch("SELECT version FROM schema_deltas ORDER BY version")
        ]


async def table_exists(db: Database, table: str) -> bool:
    sql = (
        "SELECT COUNT(*) FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = $1"
        if db.dialect.is_postgres
        else "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
    )
    async with db.read() as conn:
        return bool(await conn.fetchval(sql, table))


async def test_every_delta_applies_when_database_empty(empty_db: Database) -> None:
    known = load_deltas()
    assert await migrate(empty_db) == [d.name for d in known]
    assert await applied_versions(empty_db) == [d.version for d in known]


async def test_migrate_is_noop_when_rerun(empty_db: Database) -> None:
    await migrate(empty_db)
    assert await migrate(empty_db) == []
    assert await applied_versions(empty_db) == [d.version for d in load_deltas()]


def test_schema_version_matches_newest_delta() -> None:
    # Adding a delta means bumping SCHEMA_VERSION (with a note) in migrate.py.
    assert load_deltas()[-1].version == SCHEMA_VERSION


async def test_migrate_refuses_when_database_needs_newer_code(
    empty_db: Database, tmp_path: Path
) -> None:
    old = write_deltas(tmp_path / "old", {"0001_a.sql": "CREATE TABLE a (x BIGINT);"})
    new = write_deltas(
        tmp_path / "new",
        {"0001_a.sql": "CREATE TABLE a (x BIGINT);", "0002_b.sql": "CREATE TABLE b (y TEXT);"},
    )
    await migrate(empty_db, deltas_dir=new, compat_version=2)
    with pytest.raises(SchemaTooNewError, match="knows up to 1"):
        await migrate(empty_db, deltas_dir=old)


async def test_migrate_runs_when_newer_database_is_declared_compatible(
    empty_db: Database, tmp_path: Path
) -> None:
    old = write_deltas(tmp_path / "old", {"0001_a.sql": "CREATE TABLE a (x BIGINT);"})
    new = write_deltas(
        tmp_path / "new",
        {"0001_a.sql": "CREATE TABLE a (x BIGINT);", "0002_b.sql": "CREATE TABLE b (y TEXT);"},
    )
    await migrate(empty_db, deltas_dir=new, compat_version=1)
    assert await migrate(empty_db, deltas_dir=old, compat_version=0) == []
    # The recorded compatibility is never lowered by older code.
    with pytest.raises(SchemaTooNewError):
        await migrate(empty_db, deltas_dir=write_deltas(tmp_path / "older", {}))


async def test_failing_delta_leaves_no_record(empty_db: Database, tmp_path: Path) -> None:
    folder = write_deltas(
        tmp_path / "d",
        {
            "0001_ok.sql": "CREATE TABLE ok (x BIGINT);",
            "0002_bad.sql": "CREATE TABLE half (x BIGINT);\nINSERT INTO missing VALUES (1);\n",
        },
    )
    with pytest.raises(Exception, match="missing"):
        await migrate(empty_db, deltas_dir=folder)
    assert await applied_versions(empty_db) == [1]
    assert await table_exists(empty_db, "ok")
    assert not await table_exists(empty_db, "half")

    (folder / "0002_bad.sql").write_text("CREATE TABLE half (x BIGINT);\n")
    assert await migrate(empty_db, deltas_dir=folder) == ["0002_bad"]
    assert await table_exists(empty_db, "half")


async def test_backend_pair_and_python_deltas_apply(empty_db: Database, tmp_path: Path) -> None:
    folder = write_deltas(
        tmp_path / "d",
        {
            "0001_log.sql": (
                "-- two tables; a ';' in a comment and in 'a string;' is not a split\n"
                "CREATE TABLE entries (id BIGINT PRIMARY KEY, note TEXT DEFAULT 'a;b');\n"
                "CREATE TABLE entry_log (id BIGINT);\n"
            ),
            "0002_trigger.postgres.sql": (
                "CREATE FUNCTION log_entry() RETURNS trigger AS $$\n"
                "BEGIN\n    INSERT INTO entry_log (id) VALUES (NEW.id);\n    RETURN NEW;\nEND;\n"
                "$$ LANGUAGE plpgsql;\n"
                "CREATE TRIGGER entries_log AFTER INSERT ON entries\n"
                "FOR EACH ROW EXECUTE FUNCTION log_entry();\n"
            ),
            "0002_trigger.sqlite.sql": (
                "CREATE TRIGGER entries_log AFTER INSERT ON entries\n"
                "BEGIN\n    INSERT INTO entry_log (id) VALUES (NEW.id);\nEND;\n"
            ),
            "0003_seed.py": (
                "async def run(conn, dialect):\n"
                "    await conn.execute(\n"
                "        'INSERT INTO entries (id, note) VALUES ($1, $2)', 1, dialect.name\n"
                "    )\n"
            ),
        },
    )
    assert await migrate(empty_db, deltas_dir=folder) == ["0001_log", "0002_trigger", "0003_seed"]
    async with empty_db.read() as conn:
        assert await conn.fetchval("SELECT note FROM entries") == empty_db.dialect.name
        assert await conn.fetchval("SELECT id FROM entry_log") == 1


async def test_migrate_refuses_when_applied_delta_was_renamed(
    empty_db: Database, tmp_path: Path
) -> None:
    await migrate(empty_db, deltas_dir=write_deltas(tmp_path / "a", {"0001_a.sql": "SELECT 1;"}))
    with pytest.raises(MigrationError, match="renamed"):
        await migrate(
            empty_db, deltas_dir=write_deltas(tmp_path / "b", {"0001_b.sql": "SELECT 1;"})
        )


@pytest.mark.parametrize(
    "files",
    [
        {"0001_a.postgres.sql": ""},
        {"0001_a.sql": "", "0001_a.py": ""},
        {"0001_a.sql": "", "0001_b.sql": ""},
        {"1_a.sql": ""},
    ],
    ids=["half_pair", "sql_and_py", "same_number", "bad_name"],
)
def test_load_deltas_rejects_malformed_folder(tmp_path: Path, files: dict[str, str]) -> None:
    with pytest.raises(MigrationError):
        load_deltas(write_deltas(tmp_path / "d", files))


def test_split_sqlite_script_keeps_trigger_bodies_and_strings_whole() -> None:
    script = (
        "CREATE TABLE t (x TEXT DEFAULT ';');\n"
        "-- comment; still comment\n"
        "CREATE TRIGGER g AFTER INSERT ON t BEGIN\n  DELETE FROM t; DELETE FROM t;\nEND;\n"
        "SELECT 'x;y'"
    )
    assert split_sqlite_script(script) == [
        "CREATE TABLE t (x TEXT DEFAULT ';');",
        "-- comment; still comment\n"
        "CREATE TRIGGER g AFTER INSERT ON t BEGIN\n  DELETE FROM t; DELETE FROM t;\nEND;",
        "SELECT 'x;y'",
    ]
