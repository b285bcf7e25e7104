"""``registration_tokens`` and ``registration_nonces``.

A registration token is valid while ``pending + completed < uses_allowed``
(NULL: unlimited) and ``expiry_time`` (ms; NULL: never) is in the future.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.db import Connection


@dataclass(frozen=True, slots=True)
class RegistrationToken:
    token: str
    uses_allowed: int | None
    pending: int
    completed: int
    expiry_time: int | None

    def is_valid(self, now_ms: int) -> bool:
        if self.expiry_time is not None and self.expiry_time <= now_ms:
            return False
        return self.uses_allowed is None or self.pending + self.completed < self.uses_allowed


class RegistrationTokenStore:
    """Reads and writes registration tokens and shared-secret nonces."""

    async def create(
        self,
        txn: Connection,
        token: str,
        *,
        uses_allowed: int | None,
        expiry_time: int | None,
    ) -> bool:
        """Returns False when the token already exists."""
        created = await txn.fetchval(
            "INSERT INTO registration_tokens (token, uses_allowed, pending, completed, "
            "expiry_time) VALUES ($1, $2, 0, 0, $3) ON CONFLICT (token) DO NOTHING "
            "RETURNING token",
            token,
            uses_allowed,
            expiry_time,
        )
        return created is not None

    async def get(self, conn: Connection, token: str) -> RegistrationToken | None:
        row = await conn.fetchrow(
            "SELECT token, uses_allowed, pending, completed, expiry_time "
            "FROM registration_tokens WHERE token = $1",
            token,
        )
        if row is None:
            return None
        uses = row["uses_allowed"]
        expiry = row["expiry_time"]
        return RegistrationToken(
            token=row["token"],
            uses_allowed=None if uses is None else int(uses),
            pending=int(row["pending"]),
            completed=int(row["completed"]),
            expiry_time=None if expiry is None else int(expiry),
        )

    async def reserve(self, txn: Connection, token: str, now_ms: int) -> bool:
        """Takes one pending use of the token if it is valid now.

        Returns:
            True if a use was reserved; False for an unknown, expired or used-up token.
        """
        reserved = await txn.fetchval(
            "UPDATE registration_tokens SET pending = pending + 1 WHERE token = $1 "
            "AND (expiry_time IS NULL OR expiry_time > $2) "
            "AND (uses_allowed IS NULL OR pending + completed < uses_allowed) RETURNING token",
            token,
            now_ms,
        )
        return reserved is not None

    async def release(self, txn: Connection, token: str) -> None:
        """Gives back a pending use (its session expired without registering)."""
        await txn.execute(
            "UPDATE registration_tokens SET pending = pending - 1 WHERE token = $1 AND pending > 0",
            token,
        )

    async def complete(self, txn: Connection, token: str) -> None:
        """Turns a pending use into a completed one (the registration succeeded)."""
        await txn.execute(
            "UPDATE registration_tokens SET pending = CASE WHEN pending > 0 THEN pending - 1 "
            "ELSE 0 END, completed = completed + 1 WHERE token = $1",
            token,
        )

    async def delete(self, txn: Connection, token: str) -> bool:
        found = await txn.fetchval(
            "DELETE FROM registration_tokens WHERE token = $1 RETURNING token", token
        )
        return found is not None

    # --- shared-secret registration nonces ----------------------------------

    async def add_nonce(self, txn: Connection, nonce: str, expiry_ts: int) -> None:
        await txn.execute(
            "INSERT INTO registration_nonces (nonce, expiry_ts) VALUES ($1, $2)", nonce, expiry_ts
        )

    async def consume_nonce(self, txn: Connection, nonce: str, now_ms: int) -> bool:
        """Deletes the nonce; True if it existed and had not expired."""
        expiry = await txn.fetchval(
            "DELETE FROM registration_nonces WHERE nonce = $1 RETURNING expiry_ts", nonce
        )
        return expiry is not None and int(expiry) > now_ms

    async def purge_nonces(self, txn: Connection, now_ms: int) -> None:
        await txn.execute("DELETE FROM registration_nonces WHERE expiry_ts <= $1", now_ms)
