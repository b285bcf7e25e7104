"""``homeserver backup``: a consistent archive of a running server.

The database is dumped logically, table by table, as JSON lines, so the
archive restores onto either backend. Every table is read inside ONE
snapshot, so writes the server makes meanwhile are either wholly in the
archive or wholly absent:

- SQLite: a deferred ``BEGIN`` on a reader connection; in WAL mode the
  snapshot is fixed by the first read and the writer is never blocked.
- PostgreSQL: ``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY``.

Tables are paged in primary-key order inside that transaction, so memory
stays bounded by one page. The media files are copied after the snapshot:
every file the dumped rows name existed when the snapshot was taken (files
are written before their row commits), and files uploaded later are
harmless extras.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from homeserver.backup.archive import (
    ArchiveWriter,
    BackupError,
    Manifest,
    TableInfo,
    encode_value,
    partial_path,
    read_archive,
    table_member,
)
from homeserver.backup.staging import staging_dir
from homeserver.config.model import Config
from homeserver.storage.db import Connection, Database, Dialect

logger = logging.getLogger(__name__)

#: Bookkeeping of the migration runner: recreated by ``migrate`` on restore.
BOOKKEEPING_TABLES = frozenset({"schema_deltas", "schema_compat_version"})
#: Media store sub-directories worth keeping (``tmp/`` holds uploads in flight).
MEDIA_DIRS = ("local_content", "local_thumbnails")
_PAGE = 5000


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def list_tables(conn: Connection, dialect: Dialect) -> list[str]:
    """The data tables of the database (migration bookkeeping left out), sorted."""
    if dialect.is_postgres:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    else:
        rows = await conn.fetch(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    return sorted(str(r[0]) for r in rows if str(r[0]) not in BOOKKEEPING_TABLES)


async def table_columns(conn: Connection, dialect: Dialect, table: str) -> dict[str, str]:
    """Column name → declared type (lower case), in column order."""
    if dialect.is_postgres:
        rows = await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1 "
            "ORDER BY ordinal_position",
            table,
        )
    else:
        rows = await conn.fetch("SELECT name, type FROM pragma_table_info($1) ORDER BY cid", table)
    return {str(r[0]): str(r[1]).lower() for r in rows}


async def primary_key(conn: Connection, dialect: Dialect, table: str) -> list[str]:
    if dialect.is_postgres:
        rows = await conn.fetch(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY a.attnum",
            quote(table),
        )
    else:
        rows = await conn.fetch(
            "SELECT name FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk", table
        )
    return [str(r[0]) for r in rows]


async def schema_version(conn: Connection) -> int:
    version = await conn.fetchval("SELECT MAX(version) FROM schema_deltas")
    if version is None:
        raise BackupError("the database has no schema (run `homeserver migrate` first)")
    return int(version)


class _LinesWriter:
    """A JSON-lines file written from the event loop through a thread."""

    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open("w", encoding="utf-8")

    def write_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        for row in rows:
            self._file.write(json.dumps([encode_value(v) for v in row], ensure_ascii=False))
            self._file.write("\n")

    def close(self) -> None:
        self._file.close()


async def dump_database(db: Database, out_dir: Path) -> tuple[int, dict[str, TableInfo]]:
    """Writes every table of ``db`` as ``out_dir/db/<table>.jsonl`` from one snapshot.

    Returns:
        The schema version and, per table, its row count and columns.
    """
    dialect = db.dialect
    (out_dir / "db").mkdir(parents=True, exist_ok=True)
    tables: dict[str, TableInfo] = {}
    async with db.read() as conn:
        if dialect.is_postgres:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            await conn.execute("BEGIN")
        try:
            # The first read fixes the SQLite snapshot; everything below sees it.
            version = await schema_version(conn)
            for table in await list_tables(conn, dialect):
                tables[table] = await _dump_table(conn, dialect, table, out_dir)
        finally:
            await conn.execute("ROLLBACK")
    return version, tables


async def _dump_table(conn: Connection, dialect: Dialect, table: str, out_dir: Path) -> TableInfo:
    columns = list(await table_columns(conn, dialect, table))
    order = await primary_key(conn, dialect, table) or columns
    sql = (
        f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)} "
        f"ORDER BY {', '.join(quote(c) for c in order)} LIMIT {_PAGE} OFFSET $1"
    )
    writer = await asyncio.to_thread(_LinesWriter, out_dir / table_member(table))
    count = 0
    try:
        await asyncio.to_thread(writer.write_rows, [["columns", *columns]])
        while True:
            rows = await conn.fetch(sql, count)
            if not rows:
                break
            await asyncio.to_thread(writer.write_rows, [tuple(r) for r in rows])
            count += len(rows)
            if len(rows) < _PAGE:
                break
    finally:
        await asyncio.to_thread(writer.close)
    return TableInfo(count, tuple(columns))


def media_root(config: Config) -> Path:
    return Path(config.media.store_path or Path(config.data_dir) / "media")


def signing_key_file(config: Config) -> Path:
    from homeserver.app import signing_key_path

    return signing_key_path(config)


def _write_archive(
    archive: Path,
    staging: Path,
    manifest: Manifest,
    config: Config,
    config_path: Path | None,
) -> None:
    writer = ArchiveWriter(archive)
    try:
        for table in manifest.tables:
            writer.add_file(table_member(table), staging / table_member(table))
        root = media_root(config)
        for sub in MEDIA_DIRS:
            for path in sorted((root / sub).rglob("*")):
                if not path.is_file():
                    continue
                try:
                    writer.add_file("media/" + path.relative_to(root).as_posix(), path)
                except FileNotFoundError:
                    # Deleted (retention, admin) after the snapshot; its row may
                    # be in the dump, which then names a file that is gone anyway.
                    logger.warning("media file %s vanished during the backup", path)
        key = signing_key_file(config)
        if key.is_file():
            writer.add_file("keys/signing.key", key)
        else:
            logger.warning("no signing key at %s: the backup holds none", key)
        if config_path is not None and config_path.is_file():
            writer.add_file("config/homeserver.yaml", config_path)
        writer.finish(manifest)
    except BaseException:
        writer.abort()
        raise


async def create_backup(
    config: Config,
    archive: Path,
    *,
    config_path: Path | None = None,
    db: Database | None = None,
) -> Manifest:
    """Makes a backup archive of a (possibly running) server.

    Args:
        config: the server's configuration (database, media store, signing key).
        archive: where to write the ``.tar.gz``; written as ``.partial`` and
            renamed once complete.
        config_path: the config file to include, if any.
        db: an open database to read; opened from the config when None.

    Raises:
        BackupError: the database has no schema or the archive exists.
    """
    from homeserver.storage.db.open import open_database

    if archive.exists():  # noqa: ASYNC240 (one stat before any work)
        raise BackupError(f"{archive} already exists; choose a new file name")
    own = db is None
    database = db or await open_database(config.database.url, readers=1, max_connections=2)
    try:
        async with staging_dir(
            config.data_dir, "backup", partial_archive=partial_path(archive)
        ) as staging:
            version, tables = await dump_database(database, staging)
            manifest = Manifest(
                created_ts=int(time.time() * 1000),
                server_name=config.server_name,
                schema_version=version,
                source_backend=database.dialect.name,
                tables=tables,
            )
            await asyncio.to_thread(_write_archive, archive, staging, manifest, config, config_path)
    finally:
        if own:
            await database.close()
    logger.info(
        "backup %s: %d tables, %d rows, %d files",
        archive,
        len(manifest.tables),
        sum(t.rows for t in manifest.tables.values()),
        len(manifest.files),
    )
    return manifest


def verify_backup(archive: Path) -> Manifest:
    """Checks an archive completely without restoring it (``backup --verify``).

    Raises:
        BackupError: the archive is corrupt, truncated or incomplete.
    """
    return read_archive(archive)
