"""The backup archive: a tar.gz whose ``manifest.json`` vouches for every member.

Layout::

    db/<table>.jsonl          one table: a header line {"columns": [...]}, then one
                              JSON array per row (bytes as {"$bytes": base64})
    media/<path>              the media store (uploads and thumbnails), same layout
    keys/signing.key          the server's signing key
    config/homeserver.yaml    the config file the backup was made with (if known)
    manifest.json             written last: format version, server name, schema
                              version, row counts, and the size and SHA-256 of
                              every other member

Nothing in an archive is used before the whole archive has been read and
every member checked against the manifest: a flipped byte, a truncated file
or a member the manifest doesn't list makes :func:`read_archive` raise
:class:`BackupError` naming the problem.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, for an operator."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class TableInfo:
    rows: int
    columns: tuple[str, ...]


@dataclass(slots=True)
class Manifest:
    """What an archive holds (``manifest.json``)."""

    created_ts: int
    server_name: str
    schema_version: int
    source_backend: str
    tables: dict[str, TableInfo] = field(default_factory=dict)
    files: dict[str, FileInfo] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "created_ts": self.created_ts,
            "server_name": self.server_name,
            "schema_version": self.schema_version,
            "source_backend": self.source_backend,
            "tables": {
                name: {"rows": t.rows, "columns": list(t.columns)}
                for name, t in sorted(self.tables.items())
            },
            "files": {
                name: {"size": f.size, "sha256": f.sha256} for name, f in sorted(self.files.items())
            },
        }

    @classmethod
    def from_json(cls, raw: object) -> Manifest:
        """Parses a manifest.

        Raises:
            BackupError: not a manifest of a format this code reads.
        """
        try:
            assert isinstance(raw, dict)
            version = raw["format_version"]
            if version != FORMAT_VERSION:
                raise BackupError(
                    f"archive format version {version!r} is not supported "
                    f"(this code reads version {FORMAT_VERSION})"
                )
            tables = {
                str(name): TableInfo(int(t["rows"]), tuple(str(c) for c in t["columns"]))
                for name, t in raw["tables"].items()
            }
            files = {
                str(name): FileInfo(int(f["size"]), str(f["sha256"]))
                for name, f in raw["files"].items()
            }
            return cls(
                created_ts=int(raw["created_ts"]),
                server_name=str(raw["server_name"]),
                schema_version=int(raw["schema_version"]),
                source_backend=str(raw["source_backend"]),
                tables=tables,
                files=files,
            )
        except BackupError:
            raise
        except (AssertionError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise BackupError(f"{MANIFEST_NAME} is malformed: {e!r}") from e


def encode_value(value: Any) -> Any:
    """A database value as JSON (bytes become ``{"$bytes": base64}``)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        return base64.b64decode(value["$bytes"])
    return value


def table_member(table: str) -> str:
    return f"db/{table}.jsonl"


def check_member_name(name: str) -> None:
    """Refuses member names that could escape the extraction directory."""
    path = PurePosixPath(name)
    if (
        not name
        or path.is_absolute()
        or "\\" in name
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise BackupError(f"archive member name {name!r} is not allowed")


class _HashingReader:
    """Wraps a file; hashes what is read through it."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data


def partial_path(path: Path) -> Path:
    """Where the archive ``path`` is written until it is complete."""
    return path.with_name(path.name + ".partial")


class ArchiveWriter:
    """Writes an archive to ``PATH.partial`` and renames it into place on success."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = partial_path(path)
        self._tar = tarfile.open(self._partial, "w:gz")  # noqa: SIM115 (closed in finish/abort)
        self.files: dict[str, FileInfo] = {}

    def add_file(self, name: str, source: Path) -> None:
        """Adds a file from disk (it must not change while being read)."""
        check_member_name(name)
        with source.open("rb") as f:
            info = tarfile.TarInfo(name)
            info.size = os.fstat(f.fileno()).st_size
            info.mtime = int(os.fstat(f.fileno()).st_mtime)
            info.mode = 0o600
            reader = _HashingReader(f)
            self._tar.addfile(info, reader)
        self.files[name] = FileInfo(reader.size, reader.sha256.hexdigest())

    def add_bytes(self, name: str, data: bytes) -> None:
        check_member_name(name)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o600
        self._tar.addfile(info, io.BytesIO(data))
        self.files[name] = FileInfo(len(data), hashlib.sha256(data).hexdigest())

    def finish(self, manifest: Manifest) -> None:
        """Writes the manifest (with every member's checksum) and publishes the archive."""
        manifest.files = dict(self.files)
        data = json.dumps(manifest.to_json(), indent=1, sort_keys=True).encode("utf-8")
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(data)
        info.mode = 0o600
        info.mtime = manifest.created_ts // 1000
        self._tar.addfile(info, io.BytesIO(data))
        self._tar.close()
        with self._partial.open("rb+") as f:
            os.fsync(f.fileno())
        self._partial.replace(self.path)

    def abort(self) -> None:
        self._tar.close()
        self._partial.unlink(missing_ok=True)


def read_archive(path: Path, dest: Path | None = None) -> Manifest:
    """Reads a whole archive and checks every member against its manifest.

    Args:
        path: the archive.
        dest: when given, the members are extracted under it (only worth
            using once this function has returned without raising).

    Returns:
        The manifest.

    Raises:
        BackupError: missing, corrupt or truncated archive, a member whose size
            or checksum differs from the manifest, a missing or extra member.
    """
    if not path.is_file():
        raise BackupError(f"no archive at {path}")
    seen: dict[str, FileInfo] = {}
    manifest_raw: bytes | None = None
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                check_member_name(member.name)
                if not member.isfile():
                    raise BackupError(f"archive member {member.name!r} is not a regular file")
                if member.name in seen or (member.name == MANIFEST_NAME and manifest_raw):
                    raise BackupError(f"archive member {member.name!r} appears twice")
                source = tar.extractfile(member)
                assert source is not None
                if member.name == MANIFEST_NAME:
                    manifest_raw = source.read()
                    continue
                seen[member.name] = _copy_member(source, member.name, dest)
            # tarfile stops at the first header it can't parse as if the archive
            # ended there; reading the gzip stream to its end checks its CRC and
            # length, so damage anywhere is caught.
            stream = tar.fileobj
            assert stream is not None
            while stream.read(_CHUNK):
                pass
    except (tarfile.TarError, zlib.error, EOFError) as e:
        raise BackupError(f"archive {path} is corrupt or truncated: {e}") from e
    except OSError as e:
        # gzip raises BadGzipFile (an OSError) on a bad header or CRC.
        raise BackupError(f"archive {path} is corrupt or unreadable: {e}") from e
    if manifest_raw is None:
        raise BackupError(f"archive {path} is corrupt or truncated: it has no {MANIFEST_NAME}")
    try:
        manifest = Manifest.from_json(json.loads(manifest_raw))
    except ValueError as e:
        raise BackupError(f"{MANIFEST_NAME} in {path} is not valid JSON: {e}") from e
    for name, expected in manifest.files.items():
        got = seen.get(name)
        if got is None:
            raise BackupError(f"archive {path} is missing {name!r}, which its manifest lists")
        if got != expected:
            raise BackupError(
                f"archive member {name!r} is corrupt: {got.size} bytes with SHA-256 "
                f"{got.sha256}, the manifest says {expected.size} bytes with {expected.sha256}"
            )
    extra = sorted(set(seen) - set(manifest.files))
    if extra:
        raise BackupError(f"archive {path} holds members its manifest does not list: {extra}")
    for table in manifest.tables:
        if table_member(table) not in manifest.files:
            raise BackupError(f"archive {path} has no data file for table {table!r}")
    return manifest


def _copy_member(source: IO[bytes], name: str, dest: Path | None) -> FileInfo:
    digest = hashlib.sha256()
    size = 0
    out: IO[bytes] | None = None
    if dest is not None:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        out = target.open("wb")
    try:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    return FileInfo(size, digest.hexdigest())
