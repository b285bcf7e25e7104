"""Scratch directories for backup and restore, and what killed runs left behind.

A backup dumps every table to a staging directory before it writes the
archive, and a restore extracts the archive to one; both can be as large as
the database. They live under ``<data_dir>/backup-staging/`` (on the data's
own disk rather than in a small ``/tmp``), one directory per run, each
holding an exclusive ``flock`` on its ``.lock`` file for as long as the run
lives. The kernel drops the lock when a process dies, even by ``kill -9``, so
a directory whose lock can be taken belongs to no live run: the next backup,
restore or server start (``sweep``) removes it, together with the unfinished
``ARCHIVE.partial`` its run was writing.

Only directories named as this module names them are ever removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

STAGING_DIR_NAME = "backup-staging"
#: Held by a live run inside its directory.
_RUN_LOCK = ".lock"
#: Inside a run's directory: the archive's ``.partial`` path that run writes.
_PARTIAL_NOTE = "partial-archive"
#: Held while a run's directory is created or the directory is swept, so a
#: sweep never sees a new directory before its run holds the lock.
_SWEEP_LOCK = ".sweep.lock"
_RUN_NAME = re.compile(r"^(backup|restore)-[A-Za-z0-9_]+$")


def staging_root(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / STAGING_DIR_NAME


@contextlib.contextmanager
def _sweep_lock(root: Path) -> Iterator[None]:
    with (root / _SWEEP_LOCK).open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _remove_if_dead(run: Path) -> bool:
    """Removes ``run`` (and its partial archive) unless a live process holds its lock."""
    try:
        lock = (run / _RUN_LOCK).open("a")
    except FileNotFoundError:
        lock = None  # killed between creating the directory and its lock file
    try:
        if lock is not None:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
        with contextlib.suppress(OSError):
            partial = Path((run / _PARTIAL_NOTE).read_text(encoding="utf-8"))
            if partial.name.endswith(".partial"):
                partial.unlink(missing_ok=True)
                logger.info("removed the unfinished archive %s of a stopped backup", partial)
        shutil.rmtree(run, ignore_errors=True)
        logger.info("removed %s, left by a stopped backup or restore", run)
        return True
    finally:
        if lock is not None:
            lock.close()


def sweep(data_dir: str | os.PathLike[str]) -> int:
    """Removes the scratch directories of backups and restores that are no longer running.

    Returns:
        how many directories were removed.
    """
    root = staging_root(data_dir)
    if not root.is_dir():
        return 0
    removed = 0
    with _sweep_lock(root):
        for run in sorted(root.iterdir()):
            if _RUN_NAME.match(run.name) and run.is_dir() and not run.is_symlink():
                removed += _remove_if_dead(run)
    return removed


def _create(
    data_dir: str | os.PathLike[str], kind: str, partial_archive: Path | None
) -> tuple[Path, IO[str]]:
    root = staging_root(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    sweep(data_dir)
    with _sweep_lock(root):
        path = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=root))
        lock = (path / _RUN_LOCK).open("a")
        fcntl.flock(lock, fcntl.LOCK_EX)
    if partial_archive is not None:
        note = str(partial_archive.absolute())
        (path / _PARTIAL_NOTE).write_text(note, encoding="utf-8")
    return path, lock


def _remove(path: Path, lock: IO[str]) -> None:
    shutil.rmtree(path, ignore_errors=True)
    lock.close()


@contextlib.asynccontextmanager
async def staging_dir(
    data_dir: str | os.PathLike[str], kind: str, *, partial_archive: Path | None = None
) -> AsyncIterator[Path]:
    """A new scratch directory for one run, removed when the block ends.

    What earlier, killed runs left is swept first.

    Args:
        kind: ``"backup"`` or ``"restore"``.
        partial_archive: the ``.partial`` file this run writes, removed by a
            later sweep if this run is killed.
    """
    path, lock = await asyncio.to_thread(_create, data_dir, kind, partial_archive)
    try:
        yield path
    finally:
        await asyncio.to_thread(_remove, path, lock)
