"""The media repository's tables: ``local_media`` and ``local_media_thumbnails``.

A ``local_media`` row is either an uploaded file (``size`` set) or an id
reserved by ``POST /_matrix/media/v1/create`` that still waits for its bytes
(``size`` NULL, ``unused_expires_at`` set). The bytes themselves live on the
filesystem; these rows say what they are and who uploaded them.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.db import Connection, Row


@dataclass(frozen=True, slots=True)
class MediaRecord:
    media_id: str
    user_id: str
    content_type: str | None
    upload_name: str | None
    #: None while a /create'd id waits for its upload.
    size: int | None
    sha256: str | None
    created_ts: int
    quarantined: bool
    #: Never served by the unauthenticated legacy endpoints.
    authenticated_only: bool
    #: Set while a /create'd id waits for its upload.
    unused_expires_at: int | None

    @property
    def uploaded(self) -> bool:
        return self.size is not None


@dataclass(frozen=True, slots=True)
class ThumbnailRecord:
    media_id: str
    width: int
    height: int
    method: str
    content_type: str
    size: int
    #: Relative to the media store path.
    path: str


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """What an upload stores about its bytes."""

    content_type: str
    upload_name: str | None
    size: int
    sha256: str


_MEDIA_COLUMNS = (
    "media_id, user_id, content_type, upload_name, size, sha256, created_ts, quarantined, "
    "authenticated_only, unused_expires_at"
)


def _media(row: Row) -> MediaRecord:
    return MediaRecord(
        media_id=row["media_id"],
        user_id=row["user_id"],
        content_type=row["content_type"],
        upload_name=row["upload_name"],
        size=row["size"],
        sha256=row["sha256"],
        created_ts=row["created_ts"],
        quarantined=bool(row["quarantined"]),
        authenticated_only=bool(row["authenticated_only"]),
        unused_expires_at=row["unused_expires_at"],
    )


class MediaStore:
    """Reads and writes the media tables. Every method takes the connection first."""

    async def get(self, conn: Connection, media_id: str) -> MediaRecord | None:
        """The media row, uploaded or only reserved; None when unknown."""
        row = await conn.fetchrow(
            f"SELECT {_MEDIA_COLUMNS} FROM local_media WHERE media_id = $1", media_id
        )
        return _media(row) if row is not None else None

    async def insert_uploaded(
        self,
        txn: Connection,
        media_id: str,
        user_id: str,
        file: UploadedFile,
        *,
        created_ts: int,
        authenticated_only: bool,
    ) -> None:
        """Records a completed upload under a fresh media id."""
        await txn.execute(
            "INSERT INTO local_media (media_id, user_id, content_type, upload_name, size, "
            "sha256, created_ts, authenticated_only) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            media_id,
            user_id,
            file.content_type,
            file.upload_name,
            file.size,
            file.sha256,
            created_ts,
            authenticated_only,
        )

    async def reserve(
        self,
        txn: Connection,
        media_id: str,
        user_id: str,
        *,
        created_ts: int,
        expires_at: int,
        authenticated_only: bool,
    ) -> None:
        """Reserves a media id for a later upload by ``user_id`` (``/create``)."""
        await txn.execute(
            "INSERT INTO local_media (media_id, user_id, created_ts, unused_expires_at, "
            "authenticated_only) VALUES ($1, $2, $3, $4, $5)",
            media_id,
            user_id,
            created_ts,
            expires_at,
            authenticated_only,
        )

    async def complete_reserved(
        self, txn: Connection, media_id: str, user_id: str, file: UploadedFile, *, now_ms: int
    ) -> bool:
        """Fills in a reserved id's upload.

        Returns:
            True when the id was reserved by ``user_id``, unexpired and not yet
            uploaded; False otherwise (nothing changes then).
        """
        done = await txn.fetchval(
            "UPDATE local_media SET content_type = $3, upload_name = $4, size = $5, "
            "sha256 = $6, unused_expires_at = NULL "
            "WHERE media_id = $1 AND user_id = $2 AND size IS NULL "
            "AND unused_expires_at > $7 RETURNING media_id",
            media_id,
            user_id,
            file.content_type,
            file.upload_name,
            file.size,
            file.sha256,
            now_ms,
        )
        return done is not None

    async def count_pending(self, conn: Connection, user_id: str, *, now_ms: int) -> int:
        """How many unexpired reserved ids ``user_id`` has not uploaded to yet."""
        n = await conn.fetchval(
            "SELECT COUNT(*) FROM local_media WHERE user_id = $1 AND size IS NULL "
            "AND unused_expires_at > $2",
            user_id,
            now_ms,
        )
        return int(n or 0)

    async def bytes_used(self, conn: Connection, user_id: str) -> int:
        """Total size of everything ``user_id`` has uploaded (for quotas)."""
        n = await conn.fetchval(
            "SELECT COALESCE(SUM(size), 0) FROM local_media WHERE user_id = $1", user_id
        )
        return int(n or 0)

    async def find_by_sha256(self, conn: Connection, sha256: str) -> str | None:
        """Some uploaded media id whose bytes have this SHA-256, or None."""
        media_id = await conn.fetchval(
            "SELECT media_id FROM local_media WHERE sha256 = $1 AND size IS NOT NULL "
            "ORDER BY created_ts LIMIT 1",
            sha256,
        )
        return str(media_id) if media_id is not None else None

    async def get_thumbnails(
        self, conn: Connection, media_id: str, width: int, height: int, method: str
    ) -> list[ThumbnailRecord]:
        """The generated thumbnails of exactly these target dimensions and
        method (one per content type: static and animated renderings)."""
        rows = await conn.fetch(
            "SELECT media_id, width, height, method, content_type, size, path "
            "FROM local_media_thumbnails WHERE media_id = $1 AND width = $2 AND height = $3 "
            "AND method = $4 ORDER BY content_type",
            media_id,
            width,
            height,
            method,
        )
        return [
            ThumbnailRecord(
                media_id=row["media_id"],
                width=row["width"],
                height=row["height"],
                method=row["method"],
                content_type=row["content_type"],
                size=row["size"],
                path=row["path"],
            )
            for row in rows
        ]

    async def insert_thumbnail(self, txn: Connection, thumb: ThumbnailRecord) -> None:
        """Records a generated thumbnail; a concurrent twin that won is kept."""
        await txn.execute(
            "INSERT INTO local_media_thumbnails (media_id, width, height, method, "
            "content_type, size, path) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (media_id, width, height, method, content_type) DO NOTHING",
            thumb.media_id,
            thumb.width,
            thumb.height,
            thumb.method,
            thumb.content_type,
            thumb.size,
            thumb.path,
        )
