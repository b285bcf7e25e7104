"""Server-side room key backups: ``e2e_room_keys_versions`` and ``e2e_room_keys``.

A user's backup versions are numbered 1, 2, … per user; a deleted version
keeps its row so its number is never reused. The newest version that is not
deleted is the *current* one, the only one keys may be uploaded to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.storage.db import Connection

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BackupVersion:
    version: int
    algorithm: str
    auth_data: JsonDict
    etag: int
    deleted: bool


@dataclass(frozen=True, slots=True)
class RoomKey:
    room_id: str
    session_id: str
    first_message_index: int
    forwarded_count: int
    is_verified: bool
    session_data: JsonDict

    def to_json(self) -> JsonDict:
        return {
            "first_message_index": self.first_message_index,
            "forwarded_count": self.forwarded_count,
            "is_verified": self.is_verified,
            "session_data": self.session_data,
        }


_KEY_COLUMNS = (
    "room_id, session_id, first_message_index, forwarded_count, is_verified, session_data"
)


class KeyBackupStore:
    """Reads and writes backup versions and their keys."""

    async def create_version(
        self, txn: Connection, user_id: str, algorithm: str, auth_data: JsonDict
    ) -> int:
        """Adds a version numbered one above every earlier one of the user.

        Returns:
            The new version number.
        """
        last = await txn.fetchval(
            "SELECT COALESCE(MAX(version), 0) FROM e2e_room_keys_versions WHERE user_id = $1",
            user_id,
        )
        version = int(last) + 1
        await txn.execute(
            "INSERT INTO e2e_room_keys_versions (user_id, version, algorithm, auth_data, etag) "
            "VALUES ($1, $2, $3, $4, 0)",
            user_id,
            version,
            algorithm,
            encode_canonical_json(auth_data).decode("utf-8"),
        )
        return version

    async def get_version(
        self, conn: Connection, user_id: str, version: int | None
    ) -> BackupVersion | None:
        """One version (deleted ones included), or with ``version=None`` the
        current one (the newest not deleted)."""
        if version is None:
            row = await conn.fetchrow(
                "SELECT version, algorithm, auth_data, etag, deleted FROM e2e_room_keys_versions "
                "WHERE user_id = $1 AND deleted = FALSE ORDER BY version DESC LIMIT 1",
                user_id,
            )
        else:
            row = await conn.fetchrow(
                "SELECT version, algorithm, auth_data, etag, deleted FROM e2e_room_keys_versions "
                "WHERE user_id = $1 AND version = $2",
                user_id,
                version,
            )
        if row is None:
            return None
        return BackupVersion(
            version=int(row["version"]),
            algorithm=row["algorithm"],
            auth_data=json.loads(row["auth_data"]),
            etag=int(row["etag"]),
            deleted=bool(row["deleted"]),
        )

    async def update_auth_data(
        self, txn: Connection, user_id: str, version: int, auth_data: JsonDict
    ) -> None:
        await txn.execute(
            "UPDATE e2e_room_keys_versions SET auth_data = $3 WHERE user_id = $1 AND version = $2",
            user_id,
            version,
            encode_canonical_json(auth_data).decode("utf-8"),
        )

    async def delete_version(self, txn: Connection, user_id: str, version: int) -> None:
        """Marks the version deleted and drops its keys."""
        await txn.execute(
            "UPDATE e2e_room_keys_versions SET deleted = TRUE WHERE user_id = $1 AND version = $2",
            user_id,
            version,
        )
        await txn.execute(
            "DELETE FROM e2e_room_keys WHERE user_id = $1 AND version = $2", user_id, version
        )

    async def bump_etag(self, txn: Connection, user_id: str, version: int) -> int:
        etag = await txn.fetchval(
            "UPDATE e2e_room_keys_versions SET etag = etag + 1 "
            "WHERE user_id = $1 AND version = $2 RETURNING etag",
            user_id,
            version,
        )
        return int(etag)

    async def count_keys(self, conn: Connection, user_id: str, version: int) -> int:
        n = await conn.fetchval(
            "SELECT COUNT(*) FROM e2e_room_keys WHERE user_id = $1 AND version = $2",
            user_id,
            version,
        )
        return int(n)

    async def get_keys(
        self,
        conn: Connection,
        user_id: str,
        version: int,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> list[RoomKey]:
        """The version's keys, optionally of one room or one session."""
        sql = f"SELECT {_KEY_COLUMNS} FROM e2e_room_keys WHERE user_id = $1 AND version = $2"
        args: list[Any] = [user_id, version]
        if room_id is not None:
            args.append(room_id)
            sql += f" AND room_id = ${len(args)}"
        if session_id is not None:
            args.append(session_id)
            sql += f" AND session_id = ${len(args)}"
        rows = await conn.fetch(sql + " ORDER BY room_id, session_id", *args)
        return [
            RoomKey(
                room_id=r["room_id"],
                session_id=r["session_id"],
                first_message_index=int(r["first_message_index"]),
                forwarded_count=int(r["forwarded_count"]),
                is_verified=bool(r["is_verified"]),
                session_data=json.loads(r["session_data"]),
            )
            for r in rows
        ]

    async def put_keys(
        self, txn: Connection, user_id: str, version: int, keys: Sequence[RoomKey]
    ) -> None:
        """Inserts or replaces the given sessions' keys (the caller decided which win)."""
        await txn.executemany(
            f"INSERT INTO e2e_room_keys (user_id, version, {_KEY_COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET "
            "first_message_index = EXCLUDED.first_message_index, "
            "forwarded_count = EXCLUDED.forwarded_count, is_verified = EXCLUDED.is_verified, "
            "session_data = EXCLUDED.session_data",
            [
                (
                    user_id,
                    version,
                    k.room_id,
                    k.session_id,
                    k.first_message_index,
                    k.forwarded_count,
                    k.is_verified,
                    encode_canonical_json(k.session_data).decode("utf-8"),
                )
                for k in keys
            ],
        )

    async def delete_keys(
        self,
        txn: Connection,
        user_id: str,
        version: int,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> int:
        """Deletes the version's keys, optionally of one room or one session.

        Returns:
            How many keys were deleted.
        """
        sql = "DELETE FROM e2e_room_keys WHERE user_id = $1 AND version = $2"
        args: list[Any] = [user_id, version]
        if room_id is not None:
            args.append(room_id)
            sql += f" AND room_id = ${len(args)}"
        if session_id is not None:
            args.append(session_id)
            sql += f" AND session_id = ${len(args)}"
        rows = await txn.fetch(sql + " RETURNING session_id", *args)
        return len(rows)
