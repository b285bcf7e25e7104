"""The database interface shared by the SQLite and PostgreSQL drivers.

SQL is written once, in PostgreSQL's ``$1`` placeholder style; the SQLite
driver rewrites placeholders. Store methods take a ``Connection`` as their
first argument so that several stores can share one atomic write.

- ``db.read()``: a reader connection (autocommit reads; on SQLite one of
  several reader connections, on PostgreSQL a pool connection).
- ``db.write()``: *the* write transaction. On SQLite every write goes through
  one writer connection (serialised by a lock), on PostgreSQL it is a pool
  connection inside a transaction. Commits on normal exit, rolls back on an
  exception.

Open a database with ``homeserver.storage.db.open.open_database(url)`` and
bring its schema up to date with ``homeserver.storage.db.migrate.migrate(db)``.

Rows come back as ``Row`` objects: mapping access by column name
(``row["user_id"]``) and tuple access by index (``row[0]``). Booleans are
returned as ``bool`` on both backends (SQLite 0/1 is converted where the
column is declared BOOLEAN; code should still use ``bool(row["x"])``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol


class Row(Protocol):
    def __getitem__(self, key: int | str, /) -> Any: ...
    def keys(self) -> Any: ...
    def __iter__(self) -> Iterator[Any]:
        """The values, in column order (``tuple(row)``)."""
        ...

    def __len__(self) -> int: ...


class Connection(Protocol):
    """A connection (or open transaction) on either backend."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Runs one statement; returns the number of rows affected when known, else -1."""

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """First column of the first row, or None when there is no row."""

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Calls ``fn`` once this write transaction has committed (never if it
        rolls back); on a read connection, at once."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """The few places where the backends differ, named once."""

    name: str  # "sqlite" | "postgres"

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    @property
    def now_ms(self) -> str:
        """An SQL expression for the database's wall clock in ms since the epoch (BIGINT).

        Prefer passing ``now_ms`` from the injected clock; this is for defaults
        and maintenance SQL where no clock is at hand.
        """
        if self.is_postgres:
            return "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
        return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

    def greatest(self, *exprs: str) -> str:
        """The larger of several SQL expressions (``GREATEST`` / scalar ``MAX``)."""
        return f"{'GREATEST' if self.is_postgres else 'MAX'}({', '.join(exprs)})"

    def least(self, *exprs: str) -> str:
        """The smaller of several SQL expressions (``LEAST`` / scalar ``MIN``)."""
        return f"{'LEAST' if self.is_postgres else 'MIN'}({', '.join(exprs)})"

    def upsert(
        self,
        table: str,
        key_columns: Sequence[str],
        value_columns: Sequence[str],
    ) -> str:
        """``INSERT … ON CONFLICT (keys) DO UPDATE`` with ``$n`` placeholders.

        Placeholders follow the order ``key_columns`` then ``value_columns``.
        With no value columns the conflict is ignored (``DO NOTHING``). The same
        text works on both backends (SQLite ≥ 3.24).
        """
        columns = [*key_columns, *value_columns]
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        conflict = ", ".join(key_columns)
        if value_columns:
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in value_columns)
            action = f"DO UPDATE SET {updates}"
        else:
            action = "DO NOTHING"
        return (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
            f"ON CONFLICT ({conflict}) {action}"
        )


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgres")


class Database(Protocol):
    dialect: Dialect

    def read(self) -> AbstractAsyncContextManager[Connection]: ...

    def write(self) -> AbstractAsyncContextManager[Connection]: ...

    async def close(self) -> None: ...


__all__ = ["POSTGRES", "SQLITE", "AsyncIterator", "Connection", "Database", "Dialect", "Row"]
