"""Fixtures shared by the whole suite: every storage, service and api test runs
on SQLite *and* PostgreSQL.

- ``db``: a migrated, empty ``Database``, parametrised ``sqlite``/``postgres``.
- ``db_url``: the URL of such a database (not yet migrated), for tests that
  start the real app from config.
- ``postgres_dsn``: the server for the postgres parametrisations. Taken from
  ``HS_TEST_POSTGRES_DSN`` when set; otherwise a throwaway cluster is created
  with ``initdb``/``pg_ctl`` once per test session and removed at its end.
  Without PostgreSQL binaries the postgres tests are skipped, except under
  ``CI=true``, where that is an error.

SQLite gets a temp *file* per test (so WAL and the writer path are exercised);
PostgreSQL gets a fresh schema per test, selected through ``search_path``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from glob import glob
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

from homeserver.storage.db import Database
from homeserver.storage.db.migrate import migrate
from homeserver.storage.db.open import open_database

BACKENDS = ["sqlite", "postgres"]
_PG_USER = "postgres"


def _find_pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_pg_user(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", _PG_USER, "--", *cmd]
    return cmd


class _Cluster:
    """A throwaway PostgreSQL cluster in a temp dir, trust auth, 127.0.0.1 only."""

    def __init__(self, initdb: str, pg_ctl: str) -> None:
        self.pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="hs-test-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, user=_PG_USER)
        self._run([initdb, "-D", str(self.data), "-U", _PG_USER, "--auth=trust", "-E", "UTF8"])
        # Durability off: the cluster is thrown away, and tests go faster.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"])

    @property
    def dsn(self) -> str:
        return f"postgresql://{_PG_USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, cmd: list[str]) -> None:
        result = subprocess.run(
            _as_pg_user(cmd), capture_output=True, text=True, check=False, cwd=self.root
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{log}"
            )

    def stop(self) -> None:
        try:
            self._run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server for the whole session (see the module docstring)."""
    configured = os.environ.get("HS_TEST_POSTGRES_DSN")
    if configured:
        yield configured
        return
    initdb, pg_ctl = _find_pg_bin("initdb"), _find_pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        reason = (
            "PostgreSQL binaries (initdb, pg_ctl) not found and HS_TEST_POSTGRES_DSN is unset; "
            "install Debian's postgresql package or point HS_TEST_POSTGRES_DSN at a server"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI requires PostgreSQL: {reason}")
        pytest.skip(reason)
    cluster = _Cluster(initdb, pg_ctl)
    try:
        yield cluster.dsn
    finally:
        cluster.stop()


def _with_search_path(dsn: str, schema: str) -> str:
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("search_path", "schema")]
    query.append(("search_path", schema))
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextlib.asynccontextmanager
async def _postgres_schema(dsn: str) -> AsyncIterator[str]:
    """A fresh empty schema; yields a URL that selects it. Dropped afterwards."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield _with_search_path(dsn, schema)
        finally:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await admin.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drops the sqlite variant of tests marked ``postgres_only``."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_sqlite = callspec is not None and callspec.params.get("backend") == "sqlite"
        if on_sqlite and item.get_closest_marker("postgres_only"):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def db_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """A URL for an empty database on the test's backend (not migrated)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'hs.db'}"
        return
    dsn: str = request.getfixturevalue("postgres_dsn")
    async with _postgres_schema(dsn) as url:
        yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database on the test's backend; closed afterwards."""
    database = await open_database(db_url, readers=2, max_connections=4)
    try:
        await migrate(database)
        yield database
    finally:
        await database.close()
