"""Media use cases: upload, reserve and upload later, download, thumbnail."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeserver.config.model import Config, parse_thumbnail_size
from homeserver.core.errors import (
    Codes,
    Forbidden,
    InvalidParam,
    MatrixError,
    NotFound,
    TooLarge,
)
from homeserver.services.clock import Clock
from homeserver.services.media.files import (
    MEDIA_ID_RE,
    BodyTooLarge,
    MediaFiles,
    StagedFile,
    new_media_id,
)
from homeserver.services.media.preview import UrlPreviewer
from homeserver.services.media.thumbnail import (
    ANIMATABLE_TYPES,
    ANIMATED_OUTPUT_TYPES,
    THUMBNAILABLE_TYPES,
    NotAnImage,
    Target,
    TooManyPixels,
    choose_target,
    render,
)
from homeserver.storage.db import Database
from homeserver.storage.stores.media import MediaRecord, MediaStore, ThumbnailRecord, UploadedFile

logger = logging.getLogger(__name__)

#: type/subtype with optional parameters, printable ASCII only.
_CONTENT_TYPE_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;[ -~]*)?$")
_DEFAULT_CONTENT_TYPE = "application/octet-stream"
_MAX_FILENAME = 255
#: How often a waiting download re-reads the database (another process may
#: have finished the upload).
_WAIT_POLL_S = 1.0


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A file ready to be served."""

    path: Path
    content_type: str
    upload_name: str | None
    size: int


class _SharedLock:
    """A lock with a count of who holds or waits for it, to drop it when unused."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


def base_content_type(content_type: str) -> str:
    """``type/subtype`` in lower case, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


class MediaService:
    """Local media: every method raises ``MatrixError`` subclasses for clients."""

    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.media = config.media
        self.server_name = config.server_name
        self.store = MediaStore()
        root = Path(self.media.store_path or Path(config.data_dir) / "media")
        self.files = MediaFiles(root)
        self.thumbnail_sizes = [
            Target(*parse_thumbnail_size(spec)) for spec in self.media.thumbnail_sizes
        ]
        self.previews = UrlPreviewer(self.media, clock.time_ms)
        # Downloads waiting for a reserved id's upload, woken when it lands.
        self._upload_waiters: dict[str, asyncio.Event] = {}
        # One rendering of a thumbnail at a time; others wait and reuse it.
        self._render_locks: dict[tuple[str, Target, bool], _SharedLock] = {}

    async def setup(self) -> None:
        """Creates the store directories."""
        await asyncio.to_thread(self.files.setup)

    @property
    def max_upload_bytes(self) -> int:
        return self.config.limits.max_upload_bytes

    def mxc(self, media_id: str) -> str:
        return f"mxc://{self.server_name}/{media_id}"

    # --- uploads -------------------------------------------------------------

    async def upload(
        self,
        user_id: str,
        body: AsyncIterable[bytes],
        *,
        content_length: int | None,
        content_type: str | None,
        filename: str | None,
    ) -> str:
        """Stores a new upload (``POST /_matrix/media/v3/upload``).

        Returns:
            Its ``mxc://`` URI.

        Raises:
            TooLarge: over ``limits.max_upload_bytes`` (checked while streaming).
            MatrixError: M_RESOURCE_LIMIT_EXCEEDED when over the user's quota.
        """
        _check_filename(filename)
        staged = await self._stage(user_id, body, content_length)
        media_id = new_media_id()
        file = UploadedFile(
            _content_type(content_type), filename or None, staged.size, staged.sha256
        )
        try:
            await self.files.place(staged, media_id, await self._twin(staged.sha256))
        except BaseException:
            await self.files.discard(staged)
            raise
        try:
            async with self.db.write() as txn:
                await self.store.insert_uploaded(
                    txn,
                    media_id,
                    user_id,
                    file,
                    created_ts=self.clock.time_ms(),
                    authenticated_only=not self.media.allow_legacy_unauthenticated,
                )
        except BaseException:
            await asyncio.to_thread(self.files.content_path(media_id).unlink, missing_ok=True)
            raise
        logger.debug("Stored media %s (%d bytes) for %s", media_id, staged.size, user_id)
        return self.mxc(media_id)

    async def create(self, user_id: str) -> tuple[str, int]:
        """Reserves a media id for a later upload (``POST /_matrix/media/v1/create``).

        Returns:
            The ``mxc://`` URI and when the reservation expires (ms since the epoch).

        Raises:
            MatrixError: M_LIMIT_EXCEEDED when the user holds too many unused ids.
        """
        now = self.clock.time_ms()
        expires_at = now + self.media.unused_expiration_ms
        media_id = new_media_id()
        async with self.db.write() as txn:
            pending = await self.store.count_pending(txn, user_id, now_ms=now)
            if pending >= self.media.max_pending_uploads:
                raise MatrixError(
                    "Too many pending media uploads; upload to the ids you reserved first",
                    code=Codes.LIMIT_EXCEEDED,
                )
            await self.store.reserve(
                txn,
                media_id,
                user_id,
                created_ts=now,
                expires_at=expires_at,
                authenticated_only=not self.media.allow_legacy_unauthenticated,
            )
        return self.mxc(media_id), expires_at

    async def upload_to(
        self,
        user_id: str,
        server_name: str,
        media_id: str,
        body: AsyncIterable[bytes],
        *,
        content_length: int | None,
        content_type: str | None,
        filename: str | None,
    ) -> None:
        """Uploads to an id reserved with ``/create``
        (``PUT /_matrix/media/v3/upload/{serverName}/{mediaId}``).

        Raises:
            NotFound: not an id of ours, or never reserved, or expired.
            Forbidden: reserved by another user.
            MatrixError: M_CANNOT_OVERWRITE_MEDIA when already uploaded.
        """
        _check_filename(filename)
        record = await self._local_record(server_name, media_id)
        self._check_can_upload_to(record, user_id)
        staged = await self._stage(user_id, body, content_length)
        file = UploadedFile(
            _content_type(content_type), filename or None, staged.size, staged.sha256
        )
        try:
            twin = await self._twin(staged.sha256)
            async with self.db.write() as txn:
                done = await self.store.complete_reserved(
                    txn, media_id, user_id, file, now_ms=self.clock.time_ms()
                )
                if not done:
                    # Lost a race with another upload (or the id expired meanwhile).
                    record = await self.store.get(txn, media_id)
                    self._check_can_upload_to(record, user_id)
                    raise NotFound("Media ID not found")
                # Rename inside the transaction: once the row says "uploaded",
                # the file must be there for readers.
                await self.files.place(staged, media_id, twin)
        finally:
            await self.files.discard(staged)
        event = self._upload_waiters.pop(media_id, None)
        if event is not None:
            event.set()

    async def _twin(self, sha256: str) -> str | None:
        """A stored media id with these bytes, to share its file (de-duplication)."""
        async with self.db.read() as conn:
            return await self.store.find_by_sha256(conn, sha256)

    def _check_can_upload_to(self, record: MediaRecord | None, user_id: str) -> None:
        if record is None:
            raise NotFound("Media ID not found")
        if record.user_id != user_id:
            raise Forbidden("You may not upload to media you did not create")
        if record.uploaded:
            raise MatrixError("Media ID already has content", code=Codes.CANNOT_OVERWRITE_MEDIA)
        if (
            record.unused_expires_at is not None
            and record.unused_expires_at <= self.clock.time_ms()
        ):
            raise NotFound("Media ID has expired")

    async def _stage(
        self, user_id: str, body: AsyncIterable[bytes], content_length: int | None
    ) -> StagedFile:
        limit = self.max_upload_bytes
        if content_length is not None and content_length > limit:
            raise TooLarge(f"Upload is larger than the {limit} bytes allowed")
        quota = self.media.user_quota_bytes
        remaining: int | None = None
        if quota:
            async with self.db.read() as conn:
                remaining = quota - await self.store.bytes_used(conn, user_id)
            if remaining <= 0 or (content_length is not None and content_length > remaining):
                raise _quota_exceeded()
        try:
            return await self.files.stage(
                body, limit if remaining is None else min(limit, remaining)
            )
        except BodyTooLarge as e:
            if e.limit < limit:
                raise _quota_exceeded() from e
            raise TooLarge(f"Upload is larger than the {limit} bytes allowed") from e

    # --- downloads -----------------------------------------------------------

    async def download(
        self, server_name: str, media_id: str, *, timeout_ms: int, legacy: bool = False
    ) -> MediaFile:
        """The file behind ``mxc://server_name/media_id``.

        Args:
            timeout_ms: how long to wait for a reserved id's upload (capped by config).
            legacy: asked through the unauthenticated endpoints.

        Raises:
            NotFound: unknown, remote, quarantined, or not served to ``legacy`` requests.
            MatrixError: 504 M_NOT_YET_UPLOADED when the upload did not come in time.
        """
        record = await self._uploaded_record(server_name, media_id, timeout_ms, legacy)
        assert record.size is not None
        return MediaFile(
            path=self.files.content_path(media_id),
            content_type=record.content_type or _DEFAULT_CONTENT_TYPE,
            upload_name=record.upload_name,
            size=record.size,
        )

    async def _local_record(self, server_name: str, media_id: str) -> MediaRecord | None:
        if server_name != self.server_name:
            # No federation client yet, so other servers' media can't be fetched.
            raise NotFound("Remote media is not available on this server")
        if not MEDIA_ID_RE.match(media_id):
            return None
        async with self.db.read() as conn:
            return await self.store.get(conn, media_id)

    async def _uploaded_record(
        self, server_name: str, media_id: str, timeout_ms: int, legacy: bool
    ) -> MediaRecord:
        if legacy and not self.media.legacy_endpoints:
            raise NotFound("Not found")
        record = await self._local_record(server_name, media_id)
        if record is not None and not record.uploaded:
            record = await self._wait_for_upload(record, timeout_ms)
        if record is None or record.quarantined:
            raise NotFound("Not found")
        if legacy and record.authenticated_only:
            # Frozen legacy endpoints: this media is only served with authentication.
            raise NotFound("Not found")
        return record

    async def _wait_for_upload(self, record: MediaRecord, timeout_ms: int) -> MediaRecord | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, min(timeout_ms, self.media.max_download_wait_ms)) / 1000
        current: MediaRecord | None = record
        while current is not None and not current.uploaded:
            if (
                current.unused_expires_at is not None
                and current.unused_expires_at <= self.clock.time_ms()
            ):
                return None
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise MatrixError("Media has not been uploaded yet", code=Codes.NOT_YET_UPLOADED)
            event = self._upload_waiters.setdefault(current.media_id, asyncio.Event())
            try:
                async with asyncio.timeout(min(remaining, _WAIT_POLL_S)):
                    await event.wait()
            except TimeoutError:
                # Forget the event; a later waiter makes a new one (bounded memory).
                if self._upload_waiters.get(current.media_id) is event:
                    del self._upload_waiters[current.media_id]
            async with self.db.read() as conn:
                current = await self.store.get(conn, record.media_id)
        return current

    # --- thumbnails ----------------------------------------------------------

    async def thumbnail(
        self,
        server_name: str,
        media_id: str,
        *,
        width: int,
        height: int,
        method: str,
        timeout_ms: int,
        legacy: bool = False,
        animated: bool = False,
    ) -> MediaFile:
        """A thumbnail close to ``width`` x ``height`` (generated once, then cached).

        With ``animated``, an animated GIF or WebP gets an animated thumbnail
        (its frames scaled); otherwise, and for any other image, a static one.

        Raises:
            NotFound: as for ``download``.
            MatrixError: 400 M_UNKNOWN when the media can't be thumbnailed;
                413 M_TOO_LARGE when the image has too many pixels.
        """
        if method not in ("crop", "scale"):
            raise InvalidParam("method must be 'crop' or 'scale'")
        record = await self._uploaded_record(server_name, media_id, timeout_ms, legacy)
        content_type = base_content_type(record.content_type or "")
        if content_type not in THUMBNAILABLE_TYPES or not self.thumbnail_sizes:
            raise _cannot_thumbnail()
        target = choose_target(self.thumbnail_sizes, width, height, method)
        animated = animated and content_type in ANIMATABLE_TYPES
        key = (media_id, target, animated)
        shared = self._render_locks.setdefault(key, _SharedLock())
        shared.users += 1
        try:
            async with shared.lock:
                thumb = await self._cached_thumbnail(media_id, target, animated=animated)
                if thumb is None:
                    thumb = await self._render_thumbnail(record, target, animated=animated)
        finally:
            shared.users -= 1
            if shared.users == 0:
                self._render_locks.pop(key, None)
        return MediaFile(
            path=self.files.root / thumb.path,
            content_type=thumb.content_type,
            upload_name=None,
            size=thumb.size,
        )

    async def _cached_thumbnail(
        self, media_id: str, target: Target, *, animated: bool
    ) -> ThumbnailRecord | None:
        async with self.db.read() as conn:
            thumbs = await self.store.get_thumbnails(
                conn, media_id, target.width, target.height, target.method
            )
        # Animated and static renderings of one size are cached side by side,
        # told apart by their content type.
        wanted = [t for t in thumbs if (t.content_type in ANIMATED_OUTPUT_TYPES) == animated]
        if not wanted:
            return None
        thumb = wanted[0]
        exists = await asyncio.to_thread((self.files.root / thumb.path).is_file)
        return thumb if exists else None

    async def _render_thumbnail(
        self, record: MediaRecord, target: Target, *, animated: bool
    ) -> ThumbnailRecord:
        media_id = record.media_id
        source = self.files.content_path(media_id)
        try:
            rendered = await asyncio.to_thread(
                render, source, target, self.media.max_image_pixels, animated=animated
            )
        except NotAnImage as e:
            logger.debug("Not thumbnailing %s: %s", media_id, e)
            raise _cannot_thumbnail() from e
        except TooManyPixels as e:
            raise TooLarge("The image is too large to thumbnail") from e
        relpath = self.files.thumbnail_relpath(
            media_id, target.width, target.height, target.method, rendered.ext
        )
        await self.files.write_thumbnail(relpath, rendered.data)
        thumb = ThumbnailRecord(
            media_id=media_id,
            width=target.width,
            height=target.height,
            method=target.method,
            content_type=rendered.content_type,
            size=len(rendered.data),
            path=relpath,
        )
        async with self.db.write() as txn:
            await self.store.insert_thumbnail(txn, thumb)
        return thumb

    async def preview_url(self, user_id: str, url: str) -> dict[str, Any]:
        """The OpenGraph preview of ``url`` (``GET /_matrix/client/v1/media/preview_url``);
        an ``og:image`` is stored as media uploaded by ``user_id``.

        Raises:
            MatrixError: see ``UrlPreviewer.preview``.
        """

        async def store_image(data: bytes, content_type: str, name: str | None) -> str:
            return await self.upload(
                user_id,
                _one_chunk(data),
                content_length=len(data),
                content_type=content_type,
                filename=name,
            )

        return await self.previews.preview(url, store_image)

    def client_config(self) -> dict[str, int]:
        """The body of ``GET /_matrix/client/v1/media/config``."""
        return {"m.upload.size": self.max_upload_bytes}


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _cannot_thumbnail() -> MatrixError:
    return MatrixError("Cannot generate thumbnails for the requested content", code=Codes.UNKNOWN)


def _quota_exceeded() -> MatrixError:
    return MatrixError("Media upload quota exceeded", code=Codes.RESOURCE_LIMIT_EXCEEDED)


def _content_type(header: str | None) -> str:
    if header and len(header) <= 255 and _CONTENT_TYPE_RE.match(header.strip()):
        return header.strip()
    return _DEFAULT_CONTENT_TYPE


def _check_filename(filename: str | None) -> None:
    if filename is not None and len(filename) > _MAX_FILENAME:
        raise InvalidParam(f"filename must be at most {_MAX_FILENAME} characters")
