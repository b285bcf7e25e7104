"""Server-side room key backups (spec: "Server-side key backups").

- Versions are numbered per user; the *current* version is the newest not
  deleted, and keys are only uploaded to it: another version is 403
  M_WRONG_ROOM_KEYS_VERSION with ``current_version``.
- Reading or deleting keys works on any existing version; a deleted or
  unknown version is 404. Deleting a version that was deleted before succeeds.
- When a session already has a key, the spec's order decides which stays:
  the verified one; else the lower ``first_message_index``; else the lower
  ``forwarded_count``; on a full tie the stored key stays.
- ``etag`` changes whenever a version's keys change; ``count`` is its number
  of keys.
- Any ``algorithm`` name is kept as given, as Synapse does: the server never
  decrypts a backup, and clients use names beyond the spec's (the short
  ``m.megolm_backup.v1``, MSC3270's AES variant). Only an update must keep
  the version's algorithm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.core.errors import (
    BadJson,
    CanonicalJsonError,
    Codes,
    InvalidParam,
    MatrixError,
    NotFound,
)
from homeserver.services.e2e.validation import MAX_ID_LENGTH, is_storable_text
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.key_backup import BackupVersion, KeyBackupStore, RoomKey

JsonDict = dict[str, Any]

__all__ = ["MEGOLM_BACKUP_V1", "KeyBackupService", "RoomKey", "WrongRoomKeysVersion"]

#: The only backup algorithm of the spec (others are accepted too).
MEGOLM_BACKUP_V1 = "m.megolm_backup.v1.curve25519-aes-sha2"


class WrongRoomKeysVersion(MatrixError):
    code = Codes.WRONG_ROOM_KEYS_VERSION

    def __init__(self, current_version: str | None) -> None:
        super().__init__("Wrong backup version.", status=403, current_version=current_version)


class KeyBackupService:
    """Backup versions and the keys in them, per user."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._store = KeyBackupStore()

    # --- versions --------------------------------------------------------------

    async def create_version(self, user_id: str, algorithm: Any, auth_data: Any) -> str:
        """Creates a backup version; it becomes the current one.

        Returns:
            The new version, as the opaque string clients see.
        """
        algorithm, auth_data = _check_version_body(algorithm, auth_data)
        async with self._db.write() as txn:
            version = await self._store.create_version(txn, user_id, algorithm, auth_data)
        return str(version)

    async def get_version(self, user_id: str, version: str | None) -> JsonDict:
        """A version's info (``version=None``: the current one).

        Raises:
            NotFound: no such version (or it was deleted), or no backup at all.
        """
        async with self._db.read() as conn:
            info = await self._live_version(conn, user_id, version)
            count = await self._store.count_keys(conn, user_id, info.version)
        return {
            "algorithm": info.algorithm,
            "auth_data": info.auth_data,
            "count": count,
            "etag": str(info.etag),
            "version": str(info.version),
        }

    async def update_version(
        self, user_id: str, version: str, algorithm: Any, auth_data: Any, body_version: Any
    ) -> None:
        """Replaces a version's ``auth_data``; the algorithm cannot change.

        Raises:
            NotFound: no such live version.
            InvalidParam: another algorithm, or a body ``version`` unlike the path's.
        """
        algorithm, auth_data = _check_version_body(algorithm, auth_data)
        if body_version is not None and body_version != version:
            raise InvalidParam("The version in the body does not match the version in the path")
        async with self._db.write() as txn:
            info = await self._live_version(txn, user_id, version)
            if info.algorithm != algorithm:
                raise InvalidParam("Algorithm does not match")
            await self._store.update_auth_data(txn, user_id, info.version, auth_data)

    async def delete_version(self, user_id: str, version: str) -> None:
        """Deletes a version and its keys; deleting it again is not an error.

        Raises:
            NotFound: the version never existed.
        """
        number = _version_number(version)
        async with self._db.write() as txn:
            info = None if number is None else await self._store.get_version(txn, user_id, number)
            if info is None:
                raise NotFound("Unknown backup version")
            if not info.deleted:
                await self._store.delete_version(txn, user_id, info.version)

    # --- keys ------------------------------------------------------------------

    async def put_keys(
        self, user_id: str, version: str, rooms: Mapping[str, Mapping[str, Any]]
    ) -> JsonDict:
        """Stores keys ``room → session → key data`` in the current version.

        Returns:
            ``{"etag", "count"}`` of the version afterwards.

        Raises:
            NotFound: the user has no backup at all, or ``version`` is unknown.
            WrongRoomKeysVersion: ``version`` is not the current version.
            BadJson: malformed key data.
        """
        keys = [
            _parse_key(room_id, session_id, data)
            for room_id, sessions in rooms.items()
            for session_id, data in sessions.items()
        ]
        async with self._db.write() as txn:
            current = await self._store.get_version(txn, user_id, None)
            if current is None:
                raise NotFound("No backup exists")
            if _version_number(version) != current.version:
                raise WrongRoomKeysVersion(str(current.version))
            stored = {
                (k.room_id, k.session_id): k
                for k in await self._store.get_keys(txn, user_id, current.version)
            }
            winners = [k for k in keys if _replaces(k, stored.get((k.room_id, k.session_id)))]
            etag = current.etag
            if winners:
                await self._store.put_keys(txn, user_id, current.version, winners)
                etag = await self._store.bump_etag(txn, user_id, current.version)
            count = await self._store.count_keys(txn, user_id, current.version)
        return {"etag": str(etag), "count": count}

    async def get_keys(
        self,
        user_id: str,
        version: str | None,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> list[RoomKey]:
        """Keys of a live version, optionally of one room or session.

        Raises:
            NotFound: unknown or deleted version.
        """
        async with self._db.read() as conn:
            info = await self._live_version(conn, user_id, version)
            return await self._store.get_keys(conn, user_id, info.version, room_id, session_id)

    async def delete_keys(
        self,
        user_id: str,
        version: str | None,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> JsonDict:
        """Deletes keys of a live version; returns ``{"etag", "count"}`` afterwards."""
        async with self._db.write() as txn:
            info = await self._live_version(txn, user_id, version)
            deleted = await self._store.delete_keys(txn, user_id, info.version, room_id, session_id)
            etag = info.etag
            if deleted:
                etag = await self._store.bump_etag(txn, user_id, info.version)
            count = await self._store.count_keys(txn, user_id, info.version)
        return {"etag": str(etag), "count": count}

    async def _live_version(
        self, conn: Connection, user_id: str, version: str | None
    ) -> BackupVersion:
        if version is None:
            info = await self._store.get_version(conn, user_id, None)
        else:
            number = _version_number(version)
            info = None if number is None else await self._store.get_version(conn, user_id, number)
        if info is None or info.deleted:
            raise NotFound("Unknown backup version")
        return info


def _version_number(version: str) -> int | None:
    """The number behind a version string; None when it cannot be one of ours."""
    if not version.isascii() or not version.isdigit() or len(version) > 18:
        return None
    return int(version)


def _check_version_body(algorithm: Any, auth_data: Any) -> tuple[str, JsonDict]:
    if not isinstance(algorithm, str):
        raise BadJson("'algorithm' must be a string")
    if not is_storable_text(algorithm):
        raise InvalidParam(f"'algorithm' must be non-empty, at most {MAX_ID_LENGTH} characters")
    if not isinstance(auth_data, dict):
        raise BadJson("'auth_data' must be an object")
    _check_encodable(auth_data)
    return algorithm, auth_data


def _parse_key(room_id: Any, session_id: Any, data: Any) -> RoomKey:
    if not isinstance(room_id, str) or not is_storable_text(room_id):
        raise InvalidParam("Invalid room id")
    if not isinstance(session_id, str) or not is_storable_text(session_id):
        raise InvalidParam("Invalid session id")
    if not isinstance(data, dict):
        raise BadJson("Key data must be an object")
    first = data.get("first_message_index")
    forwarded = data.get("forwarded_count")
    verified = data.get("is_verified")
    session_data = data.get("session_data")
    if not isinstance(first, int) or not isinstance(forwarded, int):
        raise BadJson("'first_message_index' and 'forwarded_count' must be integers")
    if not _is_int(first) or not _is_int(forwarded):
        raise BadJson("'first_message_index' and 'forwarded_count' must be integers")
    if not isinstance(verified, bool):
        raise BadJson("'is_verified' must be a boolean")
    if not isinstance(session_data, dict):
        raise BadJson("'session_data' must be an object")
    _check_encodable(session_data)
    return RoomKey(room_id, session_id, first, forwarded, verified, session_data)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


def _check_encodable(value: Any) -> None:
    try:
        encode_canonical_json(value)
    except CanonicalJsonError as e:
        raise BadJson("Not valid JSON text") from e


def _replaces(new: RoomKey, old: RoomKey | None) -> bool:
    """Whether ``new`` should replace ``old`` under the spec's order."""
    if old is None:
        return True
    if new.is_verified != old.is_verified:
        return new.is_verified
    if new.first_message_index != old.first_message_index:
        return new.first_message_index < old.first_message_index
    return new.forwarded_count < old.forwarded_count
