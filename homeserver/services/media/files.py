"""Where media bytes live on disk, and how they get there.

Layout under the store path::

    local_content/ab/cd/efghij...          the uploaded file of media id "abcdefghij..."
    local_thumbnails/ab/cd/efghij.../W-H-METHOD.EXT   its thumbnails
    tmp/                                   uploads in progress

The two levels of two-character directories keep any one directory small.
Identical uploads share one file: a new upload whose SHA-256 matches a stored
file becomes a hard link to that file instead of a second copy. Every media id
keeps its own name for the bytes, so deleting one id (unlinking its name)
never removes bytes another id still uses; the space is freed with the last
name. Where hard links are not possible the upload is stored as its own copy.
Files are written under ``tmp/`` and renamed into place, so a reader never
sees half a file; ``tmp/`` is on the same filesystem, so the rename is atomic.
The store belongs to one server process, so at start-up nothing in ``tmp/`` is
in flight: what a killed process left there (``up-*``, ``th-*``) is removed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import secrets
import string
import tempfile
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

#: Media ids we hand out are 24 ASCII letters; ids read from a URL must match
#: this before they are used to build a path.
MEDIA_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_ALPHABET = string.ascii_letters
#: Bytes gathered before one write to disk (bounds the memory of an upload).
_WRITE_BATCH = 1024 * 1024
#: Name prefixes of the files this module writes in ``tmp/``: uploads (and their
#: ``.link`` names) and thumbnails.
_TEMP_PREFIXES = ("up-", "th-")

logger = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    """The streamed body went past the allowed number of bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body exceeds {limit} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class StagedFile:
    """An upload written to ``tmp/``, not yet in place."""

    path: Path
    size: int
    sha256: str


def new_media_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(24))


class MediaFiles:
    """The filesystem half of the media repository."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    def setup(self) -> None:
        """Creates the store directories and removes the temporary files a killed
        process left in ``tmp/`` (blocking; call at start-up, before any upload)."""
        for sub in ("local_content", "local_thumbnails", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        removed = 0
        with os.scandir(self.tmp) as entries:
            for entry in entries:
                # Only our own names: anything else someone put there is left alone.
                if entry.name.startswith(_TEMP_PREFIXES) and entry.is_file(follow_symlinks=False):
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
        if removed:
            logger.info("removed %d unfinished uploads or thumbnails from %s", removed, self.tmp)

    def content_path(self, media_id: str) -> Path:
        if not MEDIA_ID_RE.match(media_id):
            raise ValueError("invalid media id")
        return self.root / "local_content" / _shard(media_id)

    def thumbnail_relpath(
        self, media_id: str, width: int, height: int, method: str, ext: str
    ) -> str:
        if not MEDIA_ID_RE.match(media_id):
            raise ValueError("invalid media id")
        return f"local_thumbnails/{_shard(media_id)}/{width}-{height}-{method}.{ext}"

    async def stage(self, chunks: AsyncIterable[bytes], limit: int) -> StagedFile:
        """Streams ``chunks`` to a new file in ``tmp/``, hashing as it goes.

        At most about 1 MiB of the body is held in memory at a time.

        Raises:
            BodyTooLarge: more than ``limit`` bytes arrived (the partial file is removed).
        """
        f = await asyncio.to_thread(_open_temp, self.tmp)
        path = Path(f.name)
        digest = hashlib.sha256()
        size = 0
        batch: list[bytes] = []
        batched = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(limit)
                batch.append(chunk)
                batched += len(chunk)
                if batched >= _WRITE_BATCH:
                    await asyncio.to_thread(_write, f, digest, b"".join(batch))
                    batch, batched = [], 0
            await asyncio.to_thread(_write, f, digest, b"".join(batch))
            await asyncio.to_thread(f.close)
        except BaseException:
            await asyncio.to_thread(_discard, f, path)
            raise
        return StagedFile(path=path, size=size, sha256=digest.hexdigest())

    async def place(self, staged: StagedFile, media_id: str, twin: str | None = None) -> None:
        """Puts a staged upload at the path of ``media_id``.

        Args:
            twin: another media id stored with the same SHA-256; the new id
                becomes a hard link to its file and the staged copy is dropped.
                Falls back to the staged copy when linking fails (the twin was
                deleted meanwhile, or the filesystem has no hard links).
        """
        twin_path = self.content_path(twin) if twin is not None else None
        await asyncio.to_thread(_place, staged.path, self.content_path(media_id), twin_path)

    async def discard(self, staged: StagedFile) -> None:
        await asyncio.to_thread(staged.path.unlink, missing_ok=True)

    async def write_thumbnail(self, relpath: str, data: bytes) -> None:
        """Writes thumbnail bytes to ``relpath`` via a temporary file and a rename."""
        await asyncio.to_thread(_write_whole, self.tmp, self.root / relpath, data)


def _shard(media_id: str) -> str:
    # Short ids (other servers' or tests') still get a valid path.
    padded = media_id.ljust(5, "_")
    return f"{padded[0:2]}/{padded[2:4]}/{padded[4:]}"


def _open_temp(tmp: Path) -> IO[bytes]:
    tmp.mkdir(parents=True, exist_ok=True)
    return tempfile.NamedTemporaryFile(dir=tmp, prefix="up-", delete=False)


def _write(f: IO[bytes], digest: hashlib._Hash, data: bytes) -> None:
    if data:
        digest.update(data)
        f.write(data)


def _discard(f: IO[bytes], path: Path) -> None:
    f.close()
    path.unlink(missing_ok=True)


def _move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def _place(src: Path, dst: Path, twin: Path | None) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if twin is not None:
        try:
            # A name in tmp/ first, then a rename: dst appears complete or not at all.
            link = src.with_name(src.name + ".link")
            if twin.stat().st_size != src.stat().st_size:
                raise OSError("twin differs")
            os.link(twin, link)
        except OSError:
            pass
        else:
            os.replace(link, dst)
            src.unlink(missing_ok=True)
            return
    os.replace(src, dst)


def _write_whole(tmp: Path, dst: Path, data: bytes) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp, prefix="th-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        _move(Path(name), dst)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
