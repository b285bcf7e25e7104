"""The SQLite driver: one writer connection, a few reader connections, WAL.

Every sqlite3 call blocks. Each connection has its own thread, and a
statement runs either there (the event loop awaits the result) or, when it
is known to be quick, directly on the event loop:

- **Quick statements run inline.** The driver remembers how long each SQL
  text took (a decaying maximum, :class:`_Costs`). A statement whose recent
  runs all took less than :data:`INLINE_MAX_S` runs on the calling thread.
  Most statements take tens of microseconds; a thread round trip costs two
  wake-ups (the connection's thread, then the loop through its self-pipe),
  ≈ 18 µs on a busy machine but 100 µs or more on one whose CPUs were idle,
  and a reader thread competes with the loop for the GIL. A message send is
  about ten statements and a ``/sync`` after it about seven. Measured
  against running every statement on the threads: delivery to 200 waiting
  ``/sync`` requests and an initial sync in 200 rooms take half the time,
  send-to-``/sync`` latency 10 to 25 % less.
- **Everything else runs on the connection's thread**: a statement never
  seen before, or one that recently took long (a big read, a large state
  write). sqlite3 releases the GIL while SQLite works, so those do not stall
  the loop.
- **The loop still takes turns.** Statements that all run inline never
  yield, so a loop of them would starve every other request. After
  :data:`INLINE_SLICE_S` of inline work without the event loop going round,
  statements go to their threads until it has.
- **Order is kept.** A statement runs inline only when no earlier call of
  that connection is still queued or running on its thread; so a
  ``ROLLBACK`` after a cancelled statement still runs after it.
- **Never block the loop on a lock.** An inline ``BEGIN IMMEDIATE`` does not
  wait for another process's write lock (busy timeout 0): when the database
  is locked the statement goes to the thread, which waits there.
- **Checkpoints run in the background.** SQLite's automatic checkpoint would
  run inside some ``COMMIT`` and write back (and fsync) megabytes; instead
  the writer turns it off and a checkpoint connection on its own thread
  copies the WAL back after every :data:`CHECKPOINT_COMMITS` commits. It
  holds the write lock meanwhile (writes wait; the loop and reads do not),
  so the whole WAL is copied and the next write starts the file over.

- ``write()`` holds an ``asyncio.Lock`` (there is exactly one writer) and runs
  ``BEGIN IMMEDIATE`` … ``COMMIT``/``ROLLBACK``. The ``BEGIN`` travels with the
  first statement and an untouched transaction costs nothing.
- ``read()`` lends one of the reader connections. They are in autocommit mode
  (each statement sees the latest committed snapshot) and ``query_only``, so a
  write through ``read()`` fails loudly instead of racing the writer.
- SQL arrives in PostgreSQL's ``$1`` style and is rewritten to ``?1`` once per
  SQL text (cached).
- Columns declared ``BOOLEAN`` come back as ``bool``. Computed expressions
  (``EXISTS(…)``, ``a = b``, ``COALESCE(flag, FALSE)``) still come back as
  0/1, so callers wrap boolean results in ``bool()``. Python ``bool`` is
  stored as 0/1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from homeserver.storage.db import SQLITE, Connection, Dialect, Row

logger = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000

#: statements whose recent runs all took less than this run on the event loop
INLINE_MAX_S = 0.002
#: how fast a slow run is forgotten: the remembered cost decays by this
#: factor per run, so a run of 20 ms sends its SQL to the thread for the next
#: ten runs before it is tried inline again. Runs on the thread count their
#: CPU time, not the wait for the GIL.
COST_DECAY = 0.8
#: inline statements may hold the event loop this long in a row; then the
#: next statement goes to its thread, so the loop serves others in between
INLINE_SLICE_S = 0.005
#: commits after which the background checkpoint runs again
CHECKPOINT_COMMITS = 100

sqlite3.register_adapter(bool, int)
sqlite3.register_converter("BOOLEAN", lambda raw: int(raw) != 0)

# Skips quoted strings, quoted identifiers and comments so that a "$1" inside
# them is left alone; only the last alternative captures a placeholder.
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$(\d+)", re.S)


@functools.lru_cache(maxsize=2048)
def rewrite_placeholders(sql: str) -> str:
    """Rewrites PostgreSQL ``$n`` placeholders to SQLite ``?n``."""
    return _PLACEHOLDER.sub(lambda m: f"?{m.group(1)}" if m.group(1) else m.group(0), sql)


class _Costs:
    """How long each SQL text took lately: a maximum that decays per run.

    Shared by every connection of the process; keys are SQL texts (a few
    hundred distinct ones), values seconds. Written from connection threads
    and the loop: a dict assignment is atomic under the GIL, and a lost
    update only delays what the next run corrects.
    """

    __slots__ = ("_cost",)

    def __init__(self) -> None:
        self._cost: dict[str, float] = {}

    def quick(self, sql: str) -> bool:
        cost = self._cost.get(sql)
        return cost is not None and cost < INLINE_MAX_S

    def note(self, sql: str, seconds: float) -> None:
        before = self._cost.get(sql)
        self._cost[sql] = seconds if before is None else max(seconds, before * COST_DECAY)


_COSTS = _Costs()


class _LoopSlice:
    """Inline statement time since the event loop last ran something else.

    A coroutine whose statements all run inline never yields: a loop of
    them would starve every other request (and the checkpoint). Once it has
    used :data:`INLINE_SLICE_S`, statements go to their threads until the
    loop has gone round once.
    """

    __slots__ = ("_armed", "_used")

    def __init__(self) -> None:
        self._used = 0.0
        self._armed = False

    def open(self) -> bool:
        return self._used < INLINE_SLICE_S

    def spend(self, seconds: float) -> None:
        self._used += seconds
        if not self._armed:
            self._armed = True
            asyncio.get_running_loop().call_soon(self._reset)

    def _reset(self) -> None:
        self._used = 0.0
        self._armed = False


class _Busy(Exception):
    """An inline ``BEGIN IMMEDIATE`` found the database locked by another process."""


def _settle(future: asyncio.Future[Any], done: Callable[[], None], ok: bool, value: Any) -> None:
    done()
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _nothing() -> None:
    pass


class _ConnectionThread:
    """A thread that runs calls one at a time, in order, and reports back to the loop."""

    __slots__ = ("_loop", "_queue", "_thread")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: queue.SimpleQueue[
            tuple[asyncio.Future[Any], Callable[..., Any], tuple[Any, ...], Callable[[], None]]
            | None
        ] = queue.SimpleQueue()
        # Daemon: an unclosed database must not hang interpreter exit; SQLite
        # is crash-safe, so losing an open transaction there is fine.
        self._thread = threading.Thread(target=self._serve, name="sqlite", daemon=True)
        self._thread.start()

    def submit(
        self, fn: Callable[..., T], args: tuple[Any, ...], done: Callable[[], None]
    ) -> asyncio.Future[T]:
        """Queues ``fn(*args)``; ``done`` is called on the loop once it has run."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put((future, fn, args, done))
        return future

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args, done = item
            try:
                outcome = (True, fn(*args))
            except BaseException as exc:
                outcome = (False, exc)
            # A closed loop raises RuntimeError: nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(_settle, future, done, *outcome)

    def call(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Runs ``fn(*args)`` on the thread (no statement: open, close, checkpoint)."""
        return self.submit(fn, args, _nothing)

    async def stop(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)


class SqliteConnection:
    """One sqlite3 connection and the thread that owns it."""

    __slots__ = (
        "_begin_pending",
        "_commit_hooks",
        "_in_txn",
        "_on_thread",
        "_raw",
        "_slice",
        "_thread",
        "_touched",
    )

    def __init__(
        self, raw: sqlite3.Connection, thread: _ConnectionThread, loop_slice: _LoopSlice
    ) -> None:
        self._raw = raw
        self._thread = thread
        #: shared by the connections of one database (one event loop)
        self._slice = loop_slice
        # _begin_pending is set on the loop and cleared by the first statement
        # of a write (inline or on the thread); _in_txn is set and cleared by
        # statements, which never run at the same time (see _on_thread).
        self._begin_pending = False
        self._in_txn = False
        self._touched = False
        #: calls queued or running on the thread; inline only when 0
        self._on_thread = 0
        #: after_commit callbacks of the open write transaction (None: not in one)
        self._commit_hooks: list[Callable[[], None]] | None = None

    @classmethod
    async def open(cls, path: str, *, reader: bool, loop_slice: _LoopSlice) -> SqliteConnection:
        thread = _ConnectionThread(asyncio.get_running_loop())
        try:
            raw = await thread.call(_connect, path, reader)
        except BaseException:
            await thread.stop()
            raise
        return cls(raw, thread, loop_slice)

    def _run(self, fn: Callable[..., T], sql: str, *args: Any) -> asyncio.Future[T]:
        """Runs ``fn(sql, *args)`` inline when quick and in order, else on the thread."""
        self._touched = True
        if self._on_thread == 0 and self._slice.open() and _COSTS.quick(sql):
            future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            started = time.perf_counter()
            try:
                future.set_result(self._timed(True, fn, sql, *args))
            except _Busy:
                pass  # locked by another process: wait for it on the thread
            except Exception as exc:
                future.set_exception(exc)
                return future
            else:
                return future
            finally:
                self._slice.spend(time.perf_counter() - started)
        self._on_thread += 1
        return self._thread.submit(self._timed, (False, fn, sql, *args), self._thread_done)

    def _thread_done(self) -> None:
        self._on_thread -= 1

    def _timed(self, inline: bool, fn: Callable[..., T], sql: str, *args: Any) -> T:
        if self._begin_pending:
            self._begin(inline)
        # Inline: the wall time the loop was blocked. On the thread: CPU time
        # only, since waiting for the GIL says nothing about the statement.
        clock = time.perf_counter if inline else time.thread_time
        started = clock()
        result = fn(sql, *args)
        _COSTS.note(sql, clock() - started)
        return result

    # Runs on the connection's thread, or inline (never both at once).
    def _begin(self, inline: bool) -> None:
        if not inline:
            self._raw.execute("BEGIN IMMEDIATE")
        else:
            # Inline, never wait for another process's lock: the loop would stall.
            self._raw.execute("PRAGMA busy_timeout = 0")
            try:
                self._raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
                raise _Busy from exc
            finally:
                self._raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._begin_pending = False
        self._in_txn = True

    def _execute_sync(self, sql: str, args: Sequence[Any]) -> int:
        cursor = self._raw.execute(rewrite_placeholders(sql), args)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def _executemany_sync(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        self._raw.executemany(rewrite_placeholders(sql), args).close()

    def _fetch_sync(self, sql: str, args: Sequence[Any]) -> list[Row]:
        cursor = self._raw.execute(rewrite_placeholders(sql), args)
        try:
            rows: list[Row] = cursor.fetchall()
            return rows
        finally:
            cursor.close()

    def _fetchrow_sync(self, sql: str, args: Sequence[Any]) -> Row | None:
        cursor = self._raw.execute(rewrite_placeholders(sql), args)
        try:
            row: Row | None = cursor.fetchone()
            return row
        finally:
            cursor.close()

    def _fetchval_sync(self, sql: str, args: Sequence[Any]) -> Any:
        row = self._fetchrow_sync(sql, args)
        return None if row is None else row[0]

    def _finish_sync(self, verb: str) -> None:
        if not self._in_txn:
            return
        self._in_txn = False
        if verb == "COMMIT":
            try:
                self._raw.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (e.g. a deferred constraint) leaves the
                # transaction open; close it so the next writer starts clean.
                if self._raw.in_transaction:
                    self._raw.execute("ROLLBACK")
                raise
        elif self._raw.in_transaction:
            self._raw.execute("ROLLBACK")

    # The Connection protocol.
    async def execute(self, sql: str, *args: Any) -> int:
        return await self._run(self._execute_sync, sql, args)

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        await self._run(self._executemany_sync, sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._run(self._fetch_sync, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self._run(self._fetchrow_sync, sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run(self._fetchval_sync, sql, args)

    def after_commit(self, fn: Callable[[], None]) -> None:
        if self._commit_hooks is None:
            fn()
        else:
            self._commit_hooks.append(fn)

    # Transaction control, used by SqliteDatabase.write().
    def _start_transaction(self) -> None:
        self._touched = False
        self._begin_pending = True
        self._commit_hooks = []

    def _take_commit_hooks(self) -> list[Callable[[], None]]:
        hooks, self._commit_hooks = self._commit_hooks or [], None
        return hooks

    async def _finish_transaction(self, *, commit: bool) -> None:
        if not self._touched:
            # Nothing was sent, so no BEGIN either: the empty transaction is free.
            self._begin_pending = False
            return
        # Inline only once every statement of this transaction has run, else
        # queued behind them (covering a statement whose await was
        # cancelled). The writer lock must not be released before it has
        # run, even if this task is cancelled again meanwhile.
        done = self._run(self._finish_sync, "COMMIT" if commit else "ROLLBACK")
        cancelled = False
        while True:
            try:
                await asyncio.shield(done)
                break
            except asyncio.CancelledError:
                if done.done():
                    break
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError
        done.result()

    def _checkpoint_sync(self) -> None:
        self._raw.execute("PRAGMA wal_checkpoint(PASSIVE)").close()

    async def checkpoint(self) -> None:
        """Copies the WAL back into the database file, on the thread."""
        await self._thread.call(self._checkpoint_sync)

    async def close(self) -> None:
        try:
            await self._thread.call(self._raw.close)
        finally:
            await self._thread.stop()


def _connect(path: str, reader: bool) -> sqlite3.Connection:
    raw = sqlite3.connect(
        path,
        isolation_level=None,  # we issue BEGIN/COMMIT ourselves
        detect_types=sqlite3.PARSE_DECLTYPES,
        check_same_thread=False,  # only its own thread uses it; close may come from GC
        cached_statements=512,
    )
    raw.row_factory = sqlite3.Row
    raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if reader:
        raw.execute("PRAGMA query_only = ON")
    else:
        mode = raw.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raw.close()
            raise RuntimeError(f"SQLite database {path!r} cannot use WAL (journal_mode={mode})")
        # Checkpoints run on their own connection (SqliteDatabase._checkpoint).
        raw.execute("PRAGMA wal_autocheckpoint = 0")
    raw.execute("PRAGMA synchronous = NORMAL")
    raw.execute("PRAGMA foreign_keys = ON")
    return raw


class SqliteDatabase:
    """A SQLite database file with one writer and a small pool of readers."""

    dialect: Dialect = SQLITE

    def __init__(
        self,
        path: str,
        writer: SqliteConnection,
        readers: list[SqliteConnection],
        checkpointer: SqliteConnection,
    ) -> None:
        self.path = path
        self._writer = writer
        self._readers = readers
        self._checkpointer = checkpointer
        self._idle: asyncio.Queue[SqliteConnection] = asyncio.Queue()
        for reader in readers:
            self._idle.put_nowait(reader)
        self._write_lock = asyncio.Lock()
        self._closed = False
        #: commits since the last checkpoint started
        self._commits = 0
        self._checkpointing: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: str | Path, *, readers: int = 4) -> SqliteDatabase:
        """Opens (creating if absent) the database file at ``path``.

        Args:
            path: a filesystem path. ``:memory:`` is refused: the writer and the
                readers must share one database, which needs a file.
            readers: how many reader connections to keep (at least 1).
        """
        path = str(path)
        if path == ":memory:" or path.startswith("file::memory:"):
            raise ValueError("SQLite needs a database file; ':memory:' is not supported")
        # The writer goes first: it switches the file to WAL before readers attach.
        loop_slice = _LoopSlice()
        writer = await SqliteConnection.open(path, reader=False, loop_slice=loop_slice)
        opened: list[SqliteConnection] = []
        try:
            # readers, then the checkpoint connection (also read-only)
            for _ in range(max(1, readers) + 1):
                opened.append(await SqliteConnection.open(path, reader=True, loop_slice=loop_slice))
        except BaseException:
            for conn in (writer, *opened):
                await conn.close()
            raise
        logger.debug("opened SQLite database %s with %d readers", path, len(opened) - 1)
        return cls(path, writer, opened[:-1], opened[-1])

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        self._check_open()
        conn = await self._idle.get()
        try:
            yield conn
        finally:
            self._idle.put_nowait(conn)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        self._check_open()
        async with self._write_lock:
            conn = self._writer
            conn._start_transaction()
            try:
                yield conn
            except BaseException:
                conn._take_commit_hooks()
                await conn._finish_transaction(commit=False)
                raise
            else:
                try:
                    await conn._finish_transaction(commit=True)
                finally:
                    hooks = conn._take_commit_hooks()
                if conn._touched:
                    self._committed()
        for hook in hooks:
            hook()

    def _committed(self) -> None:
        self._commits += 1
        if self._commits >= CHECKPOINT_COMMITS and self._checkpointing is None:
            self._commits = 0
            self._checkpointing = asyncio.get_running_loop().create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        try:
            # No write while it runs: then it copies back the whole WAL, and
            # the next write starts the WAL file over instead of appending
            # (under a steady stream of writes it would grow without end).
            # Writes queue on the lock meanwhile; the loop and reads go on.
            async with self._write_lock:
                await self._checkpointer.checkpoint()
        except sqlite3.Error:
            # The WAL keeps the data; the next checkpoint tries again.
            logger.warning("SQLite checkpoint failed", exc_info=True)
        finally:
            self._checkpointing = None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._checkpointing is not None:
            await asyncio.shield(self._checkpointing)
        await self._checkpointer.close()
        async with self._write_lock:
            await self._writer.close()
        for _ in self._readers:
            await (await self._idle.get()).close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("database is closed")
