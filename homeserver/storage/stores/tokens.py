"""``access_tokens``, ``refresh_tokens`` and ``login_tokens``.

Tokens are looked up by the hex SHA-256 of the token (``token_hash``); the
token itself is never stored. Ids are chosen by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from homeserver.storage.db import Connection
from homeserver.storage.stores.auth_changes import note_auth_change


@dataclass(frozen=True, slots=True)
class AccessTokenInfo:
    """An access token row joined with its account's flags."""

    token_id: int
    user_id: str
    device_id: str | None
    valid_until_ms: int | None
    refresh_token_id: int | None
    used: bool
    puppets_user_id: str | None
    is_admin: bool
    is_guest: bool
    deactivated: bool
    appservice_id: str | None
    locked: bool = False
    suspended: bool = False
    shadow_banned: bool = False


@dataclass(frozen=True, slots=True)
class RefreshTokenInfo:
    token_id: int
    user_id: str
    device_id: str
    expiry_ts: int | None
    next_token_id: int | None


class TokenStore:
    """Reads and writes the three token tables."""

    # --- access tokens -----------------------------------------------------

    async def add_access_token(
        self,
        txn: Connection,
        *,
        token_id: int,
        token_hash: str,
        user_id: str,
        device_id: str | None,
        created_ts: int,
        valid_until_ms: int | None,
        refresh_token_id: int | None,
        puppets_user_id: str | None = None,
    ) -> None:
        await txn.execute(
            "INSERT INTO access_tokens (id, token_hash, user_id, device_id, created_ts, "
            "valid_until_ms, refresh_token_id, used, puppets_user_id) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8)",
            token_id,
            token_hash,
            user_id,
            device_id,
            created_ts,
            valid_until_ms,
            refresh_token_id,
            puppets_user_id,
        )

    async def get_access_token(self, conn: Connection, token_hash: str) -> AccessTokenInfo | None:
        """The token and its account, or None for an unknown token (or a vanished account)."""
        row = await conn.fetchrow(
            "SELECT t.id, t.user_id, t.device_id, t.valid_until_ms, t.refresh_token_id, t.used, "
            "t.puppets_user_id, u.is_admin, u.is_guest, u.deactivated, u.appservice_id, "
            "u.locked, u.suspended, u.shadow_banned "
            "FROM access_tokens t JOIN users u ON u.user_id = t.user_id "
            "WHERE t.token_hash = $1",
            token_hash,
        )
        if row is None:
            return None
        valid_until = row["valid_until_ms"]
        refresh_id = row["refresh_token_id"]
        return AccessTokenInfo(
            token_id=int(row["id"]),
            user_id=row["user_id"],
            device_id=row["device_id"],
            valid_until_ms=None if valid_until is None else int(valid_until),
            refresh_token_id=None if refresh_id is None else int(refresh_id),
            used=bool(row["used"]),
            puppets_user_id=row["puppets_user_id"],
            is_admin=bool(row["is_admin"]),
            is_guest=bool(row["is_guest"]),
            deactivated=bool(row["deactivated"]),
            appservice_id=row["appservice_id"],
            locked=bool(row["locked"]),
            suspended=bool(row["suspended"]),
            shadow_banned=bool(row["shadow_banned"]),
        )

    async def mark_access_token_used(self, txn: Connection, token_id: int, now_ms: int) -> bool:
        """Marks the token used.

        Returns:
            True if this call is the one that flipped it (the first use).
        """
        note_auth_change(txn)
        flipped = await txn.fetchval(
            "UPDATE access_tokens SET used = TRUE, last_used_ts = $2 "
            "WHERE id = $1 AND used = FALSE RETURNING id",
            token_id,
            now_ms,
        )
        return flipped is not None

    async def touch_access_token(self, txn: Connection, token_id: int, now_ms: int) -> None:
        await txn.execute(
            "UPDATE access_tokens SET last_used_ts = $2 WHERE id = $1", token_id, now_ms
        )

    async def delete_access_token(self, txn: Connection, token_id: int) -> None:
        note_auth_change(txn)
        await txn.execute("DELETE FROM access_tokens WHERE id = $1", token_id)

    async def delete_access_tokens_for_devices(
        self, txn: Connection, user_id: str, device_ids: Sequence[str]
    ) -> None:
        """Deletes every access and refresh token of the given devices."""
        note_auth_change(txn)
        for device_id in device_ids:
            await txn.execute(
                "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2",
                user_id,
                device_id,
            )
            await txn.execute(
                "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2",
                user_id,
                device_id,
            )

    async def delete_all_for_user(
        self, txn: Connection, user_id: str, *, except_token_id: int | None = None
    ) -> None:
        """Deletes the user's access tokens (all but one, if given) and refresh tokens.

        The refresh token paired with the kept access token survives.
        """
        note_auth_change(txn)
        keep_refresh = None
        if except_token_id is not None:
            keep_refresh = await txn.fetchval(
                "SELECT refresh_token_id FROM access_tokens WHERE id = $1", except_token_id
            )
        await txn.execute(
            "DELETE FROM access_tokens WHERE user_id = $1 AND id <> $2",
            user_id,
            except_token_id if except_token_id is not None else 0,
        )
        await txn.execute(
            "DELETE FROM refresh_tokens WHERE user_id = $1 AND id <> $2",
            user_id,
            keep_refresh if keep_refresh is not None else 0,
        )

    # --- refresh tokens ----------------------------------------------------

    async def add_refresh_token(
        self,
        txn: Connection,
        *,
        token_id: int,
        token_hash: str,
        user_id: str,
        device_id: str,
        created_ts: int,
        expiry_ts: int | None,
    ) -> None:
        await txn.execute(
            "INSERT INTO refresh_tokens (id, token_hash, user_id, device_id, created_ts, "
            "expiry_ts, next_token_id) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
            token_id,
            token_hash,
            user_id,
            device_id,
            created_ts,
            expiry_ts,
        )

    async def get_refresh_token(self, conn: Connection, token_hash: str) -> RefreshTokenInfo | None:
        row = await conn.fetchrow(
            "SELECT id, user_id, device_id, expiry_ts, next_token_id FROM refresh_tokens "
            "WHERE token_hash = $1",
            token_hash,
        )
        if row is None:
            return None
        expiry = row["expiry_ts"]
        next_id = row["next_token_id"]
        return RefreshTokenInfo(
            token_id=int(row["id"]),
            user_id=row["user_id"],
            device_id=row["device_id"],
            expiry_ts=None if expiry is None else int(expiry),
            next_token_id=None if next_id is None else int(next_id),
        )

    async def set_next_refresh_token(self, txn: Connection, token_id: int, next_id: int) -> None:
        await txn.execute(
            "UPDATE refresh_tokens SET next_token_id = $2 WHERE id = $1", token_id, next_id
        )

    async def delete_refresh_token(self, txn: Connection, token_id: int) -> None:
        """Deletes the refresh token and the access tokens issued with it."""
        note_auth_change(txn)
        await txn.execute("DELETE FROM access_tokens WHERE refresh_token_id = $1", token_id)
        await txn.execute("DELETE FROM refresh_tokens WHERE id = $1", token_id)

    async def predecessors_of(self, conn: Connection, token_id: int) -> list[int]:
        """Ids of the refresh tokens that ``token_id`` replaced."""
        rows = await conn.fetch("SELECT id FROM refresh_tokens WHERE next_token_id = $1", token_id)
        return [int(r["id"]) for r in rows]

    # --- login tokens ------------------------------------------------------

    async def add_login_token(
        self, txn: Connection, token_hash: str, user_id: str, expiry_ts: int
    ) -> None:
        await txn.execute(
            "INSERT INTO login_tokens (token_hash, user_id, expiry_ts) VALUES ($1, $2, $3)",
            token_hash,
            user_id,
            expiry_ts,
        )

    async def consume_login_token(
        self, txn: Connection, token_hash: str, now_ms: int
    ) -> str | None:
        """Deletes the login token and returns its user, or None if unknown or expired."""
        row = await txn.fetchrow(
            "DELETE FROM login_tokens WHERE token_hash = $1 RETURNING user_id, expiry_ts",
            token_hash,
        )
        if row is None or int(row["expiry_ts"]) <= now_ms:
            return None
        user_id: str = row["user_id"]
        return user_id
