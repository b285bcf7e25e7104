"""Password hashing (argon2id) and the password policy.

Hashing costs tens of milliseconds of CPU by design, so it runs in a worker
thread (``asyncio.to_thread``) and never blocks the event loop.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError

from homeserver.core.errors import InvalidParam, WeakPassword

#: Longest password accepted: hashing is costly, so bound the input.
MAX_PASSWORD_LENGTH = 512


class PasswordHasher:
    """argon2id hashes as PHC strings (``$argon2id$v=19$...``)."""

    def __init__(self, *, min_length: int = 8, time_cost: int = 2, memory_kib: int = 19456) -> None:
        self._argon2 = _Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._min_length = min_length
        # Verified against when the user does not exist, so that a login for an
        # unknown user costs as much as one with a wrong password.
        self._dummy_hash = self._argon2.hash("not a password of anyone")

    def check_policy(self, password: str) -> None:
        """Checks a new password against the policy.

        Raises:
            WeakPassword: shorter than the configured minimum.
            InvalidParam: too long or holding a NUL character.
        """
        if len(password) > MAX_PASSWORD_LENGTH or "\x00" in password:
            raise InvalidParam("Invalid password: too long or contains NUL")
        if len(password) < self._min_length:
            raise WeakPassword(f"Password must be at least {self._min_length} characters long")

    async def hash(self, password: str) -> str:
        """Hashes a password with a fresh salt."""
        return await asyncio.to_thread(self._argon2.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``.

        A None hash (no password set, or unknown user) is compared against a
        dummy hash so the answer takes as long as a real check, and is False.
        """
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        target = password_hash if password_hash is not None else self._dummy_hash
        ok = await asyncio.to_thread(self._verify, target, password)
        return ok and password_hash is not None

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
