"""``homeserver restore``: an archive into an empty database of either backend.

Order, so that nothing is half-done when something is wrong:

1. Read the whole archive into a temp directory, checking every member's
   size and SHA-256 against the manifest (a corrupt archive stops here).
2. Check the target: same server name, a schema version this code knows,
   no data in the database, no different signing key on disk.
3. Migrate the target up to the archive's schema version, load every table
   in ONE write transaction (batched ``executemany``), then migrate on to
   the newest version, so older archives restore onto newer code.
4. Copy the media files and the signing key into place.

Stream positions and id allocators need no reset: they start from
``MAX(column)`` of their tables when the server starts
(``homeserver.storage.streams``), and no table uses a database sequence.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from homeserver.backup.archive import (
    BackupError,
    Manifest,
    decode_value,
    read_archive,
    table_member,
)
from homeserver.backup.dump import (
    MEDIA_DIRS,
    list_tables,
    media_root,
    quote,
    signing_key_file,
    table_columns,
)
from homeserver.backup.staging import staging_dir
from homeserver.config.model import Config
from homeserver.storage.db import Connection, Database
from homeserver.storage.db.migrate import load_deltas, migrate

logger = logging.getLogger(__name__)

_BATCH = 1000


def _is_seeded(table: str) -> bool:
    # Single-row position counters that a migration inserts into a fresh database.
    return table.endswith("_stream_head")


async def check_empty(conn: Connection, db: Database) -> None:
    """Raises ``BackupError`` when any data table of the target holds rows."""
    for table in await list_tables(conn, db.dialect):
        if _is_seeded(table):
            continue
        count = await conn.fetchval(f"SELECT COUNT(*) FROM {quote(table)}")
        if count:
            raise BackupError(
                f"the target database is not empty (table {table} has {count} rows); "
                "restore only into a new, empty database"
            )


def _coercer(declared: str) -> Callable[[Any], Any]:
    """Makes a dumped value fit the target column (asyncpg is strict about types)."""
    if declared == "boolean":
        return lambda v: None if v is None else bool(v)
    if declared in ("integer", "bigint", "smallint"):
        return lambda v: None if v is None else int(v)
    if declared in ("double precision", "real"):
        return lambda v: None if v is None else float(v)
    return lambda v: v


class _LinesReader:
    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open(encoding="utf-8")
        self.line = 0

    def header(self) -> list[str]:
        self.line += 1
        raw = json.loads(self._file.readline() or "null")
        if not isinstance(raw, list) or not raw or raw[0] != "columns":
            raise BackupError("missing column header")
        return [str(c) for c in raw[1:]]

    def batch(self, n: int) -> list[list[Any]]:
        rows = []
        for _ in range(n):
            text = self._file.readline()
            if not text:
                break
            self.line += 1
            row = json.loads(text)
            if not isinstance(row, list):
                raise BackupError(f"line {self.line} is not a JSON array")
            rows.append([decode_value(v) for v in row])
        return rows

    def close(self) -> None:
        self._file.close()


async def _load_table(
    conn: Connection, db: Database, table: str, source: Path, expected_rows: int
) -> None:
    target = await table_columns(conn, db.dialect, table)
    if not target:
        raise BackupError(f"table {table} from the archive does not exist in the target schema")
    reader = await asyncio.to_thread(_LinesReader, source)
    try:
        columns = await asyncio.to_thread(reader.header)
        missing = [c for c in columns if c not in target]
        if missing:
            raise BackupError(f"table {table}: the target schema has no columns {missing}")
        coerce = [_coercer(target[c]) for c in columns] if db.dialect.is_postgres else None
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        sql = (
            f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({placeholders})"
        )
        # Migrations may seed a row (a stream head); the archive's copy replaces it.
        await conn.execute(f"DELETE FROM {quote(table)}")
        loaded = 0
        while rows := await asyncio.to_thread(reader.batch, _BATCH):
            for row in rows:
                if len(row) != len(columns):
                    raise BackupError(f"table {table}: a row has {len(row)} values")
            if coerce is not None:
                rows = [[f(v) for f, v in zip(coerce, row, strict=True)] for row in rows]
            await conn.executemany(sql, rows)
            loaded += len(rows)
    except (ValueError, KeyError, TypeError) as e:
        raise BackupError(f"table {table}: unreadable data at line {reader.line}: {e}") from e
    finally:
        await asyncio.to_thread(reader.close)
    if loaded != expected_rows:
        raise BackupError(
            f"table {table}: {loaded} rows in the data, manifest says {expected_rows}"
        )


async def _migrate_to(db: Database, version: int) -> None:
    """Applies the deltas up to ``version`` only (the archive's schema)."""
    deltas = [d for d in load_deltas() if d.version <= version]
    with tempfile.TemporaryDirectory(prefix="hs-deltas-") as tmp:
        for delta in deltas:
            for path in delta.files:
                shutil.copyfile(path, Path(tmp) / path.name)
        await migrate(db, deltas_dir=Path(tmp))


def _check_key(manifest: Manifest, extracted: Path, config: Config) -> None:
    target = signing_key_file(config)
    if "keys/signing.key" not in manifest.files or not target.exists():
        return
    if target.read_bytes() != (extracted / "keys/signing.key").read_bytes():
        raise BackupError(
            f"a different signing key already exists at {target}; move it away first "
            "(the restored server must keep the key other servers know)"
        )


def _copy_files(manifest: Manifest, extracted: Path, config: Config) -> int:
    root = media_root(config)
    copied = 0
    for name in manifest.files:
        if name.startswith("media/") and name.split("/")[1] in MEDIA_DIRS:
            dest = root / name.removeprefix("media/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(extracted / name, dest)
            copied += 1
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    if "keys/signing.key" in manifest.files:
        key = signing_key_file(config)
        key.parent.mkdir(parents=True, exist_ok=True)
        if not key.exists():
            shutil.copyfile(extracted / "keys/signing.key", key)
            key.chmod(0o600)
    return copied


async def restore_backup(config: Config, archive: Path, *, db: Database | None = None) -> Manifest:
    """Restores an archive into the (empty) database and media store ``config`` names.

    Args:
        config: the target's configuration; its database may be either backend.
        archive: the ``.tar.gz`` made by ``homeserver backup``.
        db: an open target database; opened from the config when None.

    Returns:
        The archive's manifest.

    Raises:
        BackupError: corrupt archive, wrong server name, unknown schema version,
            non-empty target database or a different signing key in place.
    """
    from homeserver.storage.db.open import open_database

    async with staging_dir(config.data_dir, "restore") as extracted:
        manifest = await asyncio.to_thread(read_archive, archive, extracted)
        if manifest.server_name != config.server_name:
            raise BackupError(
                f"the archive is of server {manifest.server_name!r} but the config says "
                f"{config.server_name!r}; a server's name cannot change"
            )
        known = max((d.version for d in load_deltas()), default=0)
        if manifest.schema_version > known:
            raise BackupError(
                f"the archive has schema version {manifest.schema_version}; this code knows "
                f"up to {known}: restore with a newer homeserver"
            )
        await asyncio.to_thread(_check_key, manifest, extracted, config)
        own = db is None
        database = db or await open_database(config.database.url, readers=1, max_connections=2)
        try:
            async with database.read() as conn:
                await check_empty(conn, database)
                current = await _current_version(conn, database)
            if current > manifest.schema_version:
                raise BackupError(
                    f"the target database is already at schema version {current}, newer than "
                    f"the archive's {manifest.schema_version}; restore into a new database"
                )
            await _migrate_to(database, manifest.schema_version)
            async with database.write() as conn:
                for table, info in manifest.tables.items():
                    await _load_table(
                        conn, database, table, extracted / table_member(table), info.rows
                    )
            await migrate(database)
        finally:
            if own:
                await database.close()
        copied = await asyncio.to_thread(_copy_files, manifest, extracted, config)
    logger.info(
        "restored %s: %d tables, %d rows, %d media files",
        archive,
        len(manifest.tables),
        sum(t.rows for t in manifest.tables.values()),
        copied,
    )
    return manifest


async def _current_version(conn: Connection, db: Database) -> int:
    if "schema_deltas" not in await _all_tables(conn, db):
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_deltas"))


async def _all_tables(conn: Connection, db: Database) -> set[str]:
    if db.dialect.is_postgres:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    else:
        rows = await conn.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r[0]) for r in rows}
