"""The PostgreSQL driver, over an asyncpg pool.

- ``read()`` lends a pool connection in autocommit mode.
- ``write()`` lends a pool connection inside a transaction (READ COMMITTED),
  committed on normal exit and rolled back on an exception.
- ``execute`` returns the row count from the command status (``UPDATE 3`` → 3),
  or -1 for commands that report none (DDL).
- ``search_path`` pins every pool connection to one schema; tests use it to
  give each test its own schema.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import asyncpg

from homeserver.storage.db import POSTGRES, Connection, Dialect, Row

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    RawConnection: TypeAlias = (
        asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    )

logger = logging.getLogger(__name__)


async def _no_reset(conn: RawConnection) -> None:
    return None


def rows_affected(status: str) -> int:
    """Parses the row count out of a command status such as ``INSERT 0 5``."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() and " " in status else -1


class PostgresConnection:
    """A pool connection (or open transaction) speaking the Connection protocol."""

    __slots__ = ("_commit_hooks", "raw")

    def __init__(
        self, raw: RawConnection, commit_hooks: list[Callable[[], None]] | None = None
    ) -> None:
        # The asyncpg connection, for what the protocol doesn't cover (LISTEN, COPY).
        self.raw = raw
        #: after_commit callbacks of the open write transaction (None: a read)
        self._commit_hooks = commit_hooks

    async def execute(self, sql: str, *args: Any) -> int:
        # Without arguments asyncpg uses the simple query protocol, which also
        # runs multi-statement scripts (migrations rely on that).
        status: str = await self.raw.execute(sql, *args)
        return rows_affected(status)

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        await self.raw.executemany(sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return cast("list[Row]", await self.raw.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self.raw.fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.raw.fetchval(sql, *args)

    def after_commit(self, fn: Callable[[], None]) -> None:
        if self._commit_hooks is None:
            fn()
        else:
            self._commit_hooks.append(fn)


class PostgresDatabase:
    """A PostgreSQL database behind an asyncpg pool."""

    dialect: Dialect = POSTGRES

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        search_path: str | None = None,
        server_settings: Mapping[str, str] | None = None,
    ) -> PostgresDatabase:
        """Connects a pool.

        Args:
            dsn: ``postgresql://`` or ``postgres://`` URL (libpq style; unknown
                query parameters become server settings).
            min_size: connections opened up front.
            max_size: most connections the pool will hold.
            search_path: schema(s) every connection uses, e.g. ``t_abc123``.
            server_settings: further run-time parameters for every connection.
        """
        settings = dict(server_settings or {})
        if search_path:
            settings["search_path"] = search_path
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min(min_size, max_size),
            max_size=max_size,
            server_settings=settings or None,
            # asyncpg's default reset runs an extra query (RESET ALL, UNLISTEN,
            # ...) on every release. We never change session state on pool
            # connections (transactions always end; LISTEN uses a dedicated
            # connection), so a release costs no round trip.
            reset=_no_reset,
        )
        logger.debug("opened PostgreSQL pool (max %d connections)", max_size)
        return cls(pool)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as raw:
            yield PostgresConnection(raw)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        hooks: list[Callable[[], None]] = []
        async with self._pool.acquire() as raw, raw.transaction():
            yield PostgresConnection(raw, hooks)
        for hook in hooks:
            hook()

    async def close(self) -> None:
        await self._pool.close()
