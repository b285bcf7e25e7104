"""Schema migrations: numbered deltas applied in order, each in its own write.

Deltas live in ``schema/deltas/`` at the top of the source tree; an installed
package carries a copy at ``homeserver/storage/schema/deltas/`` (see setup.py).
A delta is one of:

- ``NNNN_name.sql``: the same SQL on both backends;
- ``NNNN_name.postgres.sql`` + ``NNNN_name.sqlite.sql``: both halves required;
- ``NNNN_name.py``: defines ``async def run(conn, dialect)``.

SQL files may hold several statements. PostgreSQL runs the file as one simple
query; on SQLite it is split with ``sqlite3.complete_statement`` so that
``;`` inside strings and trigger bodies is safe.

Each delta and its row in ``schema_deltas`` commit together, so a failing
delta leaves no trace. ``schema_compat_version`` holds the oldest schema
version that code must know to run against this database: code whose newest
delta is older than that refuses to start.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from homeserver.storage.db import Connection, Database, Dialect

logger = logging.getLogger(__name__)

# The newest delta number. Bump it with every new delta, with a note:
# 1: accounts. 2: profiles and account data. 3: rooms. 4: sync. 5: push.
# 6: end-to-end keys and key backups. 7: media repository.
# 8: content reports. 9: server-side search index. 10: server admin.
# 11: OpenID tokens and delayed events (calls). 12: application service queues.
# 13: user reports. 14: media protected from quarantine.
# 15: dehydrated devices (MSC3814). 16: index on media content hashes.
# 17: push actions stored once per event for members with default rules.
SCHEMA_VERSION = 17

# Code older than this version can't run against a database this code migrated.
# Bump only when older code breaks on the new schema, and say why:
# 0: first schema.
SCHEMA_COMPAT_VERSION = 0

_DELTA_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(postgres|sqlite))?\.(sql|py)$")

# Arbitrary constant: serialises migrating processes on one PostgreSQL database.
_PG_MIGRATION_LOCK = 0x68730001

_BOOKKEEPING = (
    """CREATE TABLE IF NOT EXISTS schema_deltas (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_ts BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS schema_compat_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        compat_version INTEGER NOT NULL
    )""",
)

DeltaRunner = Callable[[Connection, Dialect], Awaitable[None]]


class MigrationError(RuntimeError):
    """The deltas on disk or in the database are not in a state we can apply."""


class SchemaTooNewError(MigrationError):
    """The database was migrated by newer code that this code can't run against."""


@dataclass(frozen=True, slots=True)
class Delta:
    version: int
    name: str  # "0001_accounts"
    files: tuple[Path, ...]  # one .sql or .py, or the .postgres.sql/.sqlite.sql pair

    def file_for(self, dialect: Dialect) -> Path:
        if len(self.files) == 1:
            return self.files[0]
        suffix = f".{dialect.name}.sql"
        return next(f for f in self.files if f.name.endswith(suffix))


def default_deltas_dir() -> Path:
    """The installed copy of ``schema/deltas`` if present, else the source tree's."""
    here = Path(__file__).resolve()
    installed = here.parents[1] / "schema" / "deltas"
    if installed.is_dir():
        return installed
    source = here.parents[3] / "schema" / "deltas"
    if source.is_dir():
        return source
    raise MigrationError(f"schema deltas not found (looked in {installed} and {source})")


def load_deltas(deltas_dir: Path | None = None) -> list[Delta]:
    """Lists the deltas in a folder, checked and sorted by number."""
    folder = deltas_dir or default_deltas_dir()
    by_version: dict[int, list[tuple[str, str | None, str, Path]]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")) or path.is_dir():
            continue  # __init__.py, __pycache__, editor droppings
        match = _DELTA_NAME.match(path.name)
        if not match:
            raise MigrationError(f"not a delta file name (NNNN_name.sql|.py): {path.name}")
        number, name, backend, ext = match.groups()
        by_version.setdefault(int(number), []).append((name, backend, ext, path))

    deltas = []
    for version in sorted(by_version):
        entries = by_version[version]
        names = {name for name, _, _, _ in entries}
        label = f"{version:04d}_{entries[0][0]}"
        if len(names) != 1:
            raise MigrationError(f"two deltas share number {version:04d}: {sorted(names)}")
        shapes = sorted((backend or "", ext) for _, backend, ext, _ in entries)
        if shapes not in ([("", "sql")], [("", "py")], [("postgres", "sql"), ("sqlite", "sql")]):
            files = ", ".join(sorted(p.name for _, _, _, p in entries))
            raise MigrationError(
                f"delta {label} needs one .sql, one .py, or both a .postgres.sql and a "
                f".sqlite.sql; found: {files}"
            )
        deltas.append(Delta(version, label, tuple(sorted(p for *_, p in entries))))
    return deltas


def split_sqlite_script(script: str) -> list[str]:
    """Splits SQL text into statements; ``;`` inside strings or triggers is kept."""
    statements = []
    start = 0
    for match in re.finditer(";", script):
        candidate = script[start : match.end()]
        if sqlite3.complete_statement(candidate):
            if _has_code(candidate):
                statements.append(candidate.strip())
            start = match.end()
    tail = script[start:]
    if _has_code(tail):
        statements.append(tail.strip())
    return statements


def _has_code(sql: str) -> bool:
    without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", "", sql, flags=re.S)
    return bool(without_comments.strip().strip(";").strip())


async def run_sql_script(conn: Connection, dialect: Dialect, script: str) -> None:
    """Runs a multi-statement SQL text inside the caller's transaction."""
    if dialect.is_postgres:
        await conn.execute(script)
        return
    for statement in split_sqlite_script(script):
        await conn.execute(statement)


async def _applied(conn: Connection) -> dict[int, str]:
    rows = await conn.fetch("SELECT version, name FROM schema_deltas")
    return {int(row[0]): str(row[1]) for row in rows}


async def _lock(conn: Connection, dialect: Dialect) -> None:
    # SQLite needs nothing: BEGIN IMMEDIATE already excludes other writers.
    if dialect.is_postgres:
        await conn.execute(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")


def _load_runner(delta: Delta, path: Path) -> DeltaRunner:
    spec = importlib.util.spec_from_file_location(f"_schema_delta_{delta.version:04d}", path)
    if spec is None or spec.loader is None:
        raise MigrationError(f"cannot load delta {path.name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run: Any = getattr(module, "run", None)
    if not callable(run):
        raise MigrationError(f"delta {path.name} has no `async def run(conn, dialect)`")
    return cast(DeltaRunner, run)


async def _apply(conn: Connection, dialect: Dialect, delta: Delta) -> None:
    path = delta.file_for(dialect)
    if path.suffix == ".py":
        await _load_runner(delta, path)(conn, dialect)
    else:
        await run_sql_script(conn, dialect, path.read_text(encoding="utf-8"))


async def migrate(
    db: Database,
    *,
    deltas_dir: Path | None = None,
    compat_version: int = SCHEMA_COMPAT_VERSION,
) -> list[str]:
    """Brings the database up to the newest delta this code knows.

    Args:
        db: the database to migrate.
        deltas_dir: where the deltas are; the packaged ``schema/deltas`` if None.
        compat_version: recorded in the database (never lowered): the oldest
            schema version that code must know to run against it.

    Returns:
        The names of the deltas applied now, in order (empty when up to date).

    Raises:
        SchemaTooNewError: the database needs newer code than this.
        MigrationError: the deltas are malformed or were renamed after landing.
    """
    deltas = load_deltas(deltas_dir)
    known = deltas[-1].version if deltas else 0
    dialect = db.dialect

    async with db.write() as conn:
        await _lock(conn, dialect)
        for statement in _BOOKKEEPING:
            await conn.execute(statement)
        applied = await _applied(conn)
        db_compat = await conn.fetchval(
            "SELECT compat_version FROM schema_compat_version WHERE id = 1"
        )

    if db_compat is not None and int(db_compat) > known:
        raise SchemaTooNewError(
            f"the database needs code that knows schema version {db_compat} or newer; "
            f"this code knows up to {known} (newest delta in the database: "
            f"{max(applied, default=0)}). Upgrade the homeserver."
        )
    for version, name in applied.items():
        ours = next((d for d in deltas if d.version == version), None)
        if ours is not None and ours.name != name:
            raise MigrationError(
                f"delta {version:04d} was applied as {name!r} but is now {ours.name!r}; "
                "deltas must never be renamed or renumbered once landed"
            )
    if max(applied, default=0) > known:
        logger.warning(
            "database has deltas up to %d but this code knows up to %d; running anyway "
            "(compatible down to %s)",
            max(applied),
            known,
            db_compat,
        )

    done: list[str] = []
    for delta in deltas:
        if delta.version in applied:
            continue
        async with db.write() as conn:
            await _lock(conn, dialect)
            # Another process may have applied it while we waited for the lock.
            if await conn.fetchval("SELECT 1 FROM schema_deltas WHERE version = $1", delta.version):
                continue
            logger.info("applying schema delta %s", delta.name)
            await _apply(conn, dialect, delta)
            await conn.execute(
                "INSERT INTO schema_deltas (version, name, applied_ts) VALUES ($1, $2, $3)",
                delta.version,
                delta.name,
                int(time.time() * 1000),
            )
        done.append(delta.name)

    async with db.write() as conn:
        await conn.execute(
            "INSERT INTO schema_compat_version (id, compat_version) VALUES (1, $1) "
            "ON CONFLICT (id) DO UPDATE SET compat_version = "
            + dialect.greatest("schema_compat_version.compat_version", "EXCLUDED.compat_version"),
            compat_version,
        )
    return done
