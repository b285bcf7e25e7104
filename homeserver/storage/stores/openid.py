"""The ``openid_tokens`` table: tokens from ``POST /user/{userId}/openid/request_token``."""

from __future__ import annotations

from homeserver.storage.db import Connection


class OpenIdStore:
    """OpenID tokens. Every method takes the connection first."""

    async def add(self, txn: Connection, token: str, user_id: str, expires_ts: int) -> None:
        await txn.execute(
            "INSERT INTO openid_tokens (token, user_id, expires_ts) VALUES ($1, $2, $3)",
            token,
            user_id,
            expires_ts,
        )

    async def user_for(self, conn: Connection, token: str, now_ms: int) -> str | None:
        """The user a token was issued to, or None when unknown or expired at ``now_ms``."""
        user_id = await conn.fetchval(
            "SELECT user_id FROM openid_tokens WHERE token = $1 AND expires_ts > $2",
            token,
            now_ms,
        )
        return None if user_id is None else str(user_id)

    async def delete_expired(self, txn: Connection, now_ms: int) -> int:
        """Removes tokens that expired at or before ``now_ms``; returns how many."""
        return await txn.execute("DELETE FROM openid_tokens WHERE expires_ts <= $1", now_ms)
