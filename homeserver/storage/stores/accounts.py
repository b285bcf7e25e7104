"""The ``users`` table: local accounts.

A row is never deleted: a deactivated account keeps its user id reserved.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.db import Connection, Row
from homeserver.storage.stores.auth_changes import note_auth_change


@dataclass(frozen=True, slots=True)
class Account:
    user_id: str
    password_hash: str | None
    created_ts: int
    is_admin: bool
    is_guest: bool
    deactivated: bool
    erased: bool
    user_type: str | None
    appservice_id: str | None


_COLUMNS = (
    "user_id, password_hash, created_ts, is_admin, is_guest, deactivated, erased, "
    "user_type, appservice_id"
)


def _account(row: Row) -> Account:
    return Account(
        user_id=row["user_id"],
        password_hash=row["password_hash"],
        created_ts=int(row["created_ts"]),
        is_admin=bool(row["is_admin"]),
        is_guest=bool(row["is_guest"]),
        deactivated=bool(row["deactivated"]),
        erased=bool(row["erased"]),
        user_type=row["user_type"],
        appservice_id=row["appservice_id"],
    )


class AccountStore:
    """Reads and writes ``users``."""

    async def create(
        self,
        txn: Connection,
        user_id: str,
        *,
        password_hash: str | None,
        created_ts: int,
        is_admin: bool = False,
        is_guest: bool = False,
        user_type: str | None = None,
        appservice_id: str | None = None,
    ) -> bool:
        """Inserts a new account.

        Returns:
            True if created, False if the user id is already taken.
        """
        inserted = await txn.fetchval(
            f"INSERT INTO users ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, FALSE, FALSE, $6, $7) "
            "ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
            user_id,
            password_hash,
            created_ts,
            is_admin,
            is_guest,
            user_type,
            appservice_id,
        )
        return inserted is not None

    async def get(self, conn: Connection, user_id: str) -> Account | None:
        """The account with exactly this user id, or None."""
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE user_id = $1", user_id)
        return None if row is None else _account(row)

    async def find_case_insensitive(self, conn: Connection, user_id: str) -> list[Account]:
        """Accounts whose user id equals ``user_id`` ignoring case (legacy mixed-case ids)."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM users WHERE LOWER(user_id) = LOWER($1)", user_id
        )
        return [_account(r) for r in rows]

    async def exists(self, conn: Connection, user_id: str) -> bool:
        """Whether the user id is taken (deactivated accounts included)."""
        return await conn.fetchval("SELECT 1 FROM users WHERE user_id = $1", user_id) is not None

    async def set_password_hash(
        self, txn: Connection, user_id: str, password_hash: str | None
    ) -> None:
        await txn.execute(
            "UPDATE users SET password_hash = $2 WHERE user_id = $1", user_id, password_hash
        )

    async def set_admin(self, txn: Connection, user_id: str, is_admin: bool) -> None:
        note_auth_change(txn)
        await txn.execute("UPDATE users SET is_admin = $2 WHERE user_id = $1", user_id, is_admin)

    async def deactivate(self, txn: Connection, user_id: str, *, erase: bool) -> None:
        """Marks the account deactivated (and erased) and drops its password."""
        note_auth_change(txn)
        await txn.execute(
            "UPDATE users SET deactivated = TRUE, password_hash = NULL, "
            "erased = (erased OR $2) WHERE user_id = $1",
            user_id,
            erase,
        )

    async def count(self, conn: Connection) -> int:
        """How many accounts exist, deactivated ones included."""
        return int(await conn.fetchval("SELECT COUNT(*) FROM users"))
