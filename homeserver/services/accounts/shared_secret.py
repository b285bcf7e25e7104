"""Shared-secret registration (``/_synapse/admin/v1/register``).

The same protocol as Synapse's, so its ``register_new_matrix_user`` tool and
Complement work unchanged: the client fetches a single-use nonce, then sends
``HMAC-SHA1(secret, nonce NUL username NUL password NUL admin|notadmin
[NUL user_type])`` as hex in ``mac``. Nonces live in the database so that
any process can check them, expire after a minute and work once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from homeserver.config.model import Config
from homeserver.core.errors import Forbidden, InvalidParam, MatrixError, NotFound
from homeserver.services.accounts.login import LoginResult, LoginService
from homeserver.services.accounts.passwords import MAX_PASSWORD_LENGTH
from homeserver.services.accounts.registration import RegistrationService
from homeserver.services.clock import Clock
from homeserver.storage.db import Database
from homeserver.storage.stores.registration_tokens import RegistrationTokenStore

NONCE_LIFETIME_MS = 60_000


def registration_mac(
    secret: str, nonce: str, username: str, password: str, admin: bool, user_type: str | None
) -> str:
    """The hex HMAC-SHA1 a shared-secret registration request must carry."""
    mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha1)
    mac.update(nonce.encode("utf-8"))
    mac.update(b"\x00")
    mac.update(username.encode("utf-8"))
    mac.update(b"\x00")
    mac.update(password.encode("utf-8"))
    mac.update(b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    if user_type is not None:
        mac.update(b"\x00")
        mac.update(user_type.encode("utf-8"))
    return mac.hexdigest()


class SharedSecretRegistration:
    """Nonces and HMAC-checked registration with ``registration.shared_secret``."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: Config,
        registration: RegistrationService,
        login: LoginService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._registration = registration
        self._login = login
        self._nonces = RegistrationTokenStore()

    def _secret(self) -> str:
        secret = self._config.registration.shared_secret
        if not secret:
            raise NotFound("Shared secret registration is not enabled on this server")
        return secret

    async def new_nonce(self) -> str:
        """A fresh single-use nonce.

        Raises:
            NotFound: no shared secret is configured.
        """
        self._secret()
        nonce = secrets.token_hex(32)
        now = self._clock.time_ms()
        async with self._db.write() as txn:
            await self._nonces.purge_nonces(txn, now)
            await self._nonces.add_nonce(txn, nonce, now + NONCE_LIFETIME_MS)
        return nonce

    async def register(
        self,
        *,
        nonce: str,
        username: str,
        password: str,
        admin: bool,
        user_type: str | None,
        mac: str,
        displayname: str | None = None,
    ) -> LoginResult:
        """Checks the nonce and MAC, then registers the user and logs them in.

        Raises:
            NotFound: no shared secret is configured.
            MatrixError: unknown, used or expired nonce (400 M_UNKNOWN).
            Forbidden: the MAC does not match.
            InvalidParam: a password that is too long or holds NUL.
            InvalidUsername / UserInUse: see ``RegistrationService.register_user``.
        """
        secret = self._secret()
        async with self._db.write() as txn:
            fresh = await self._nonces.consume_nonce(txn, nonce, self._clock.time_ms())
        if not fresh:
            raise MatrixError("Unrecognised or expired nonce")
        if len(password) > MAX_PASSWORD_LENGTH or "\x00" in password:
            raise InvalidParam("Invalid password")
        if "\x00" in username:
            raise InvalidParam("Invalid username")
        if user_type is not None and ("\x00" in user_type or len(user_type) > 64):
            raise InvalidParam("Invalid user_type")
        if displayname is not None and "\x00" in displayname:
            raise InvalidParam("Invalid displayname")
        expected = registration_mac(secret, nonce, username, password, admin, user_type)
        if not hmac.compare_digest(expected.encode("ascii"), mac.encode("utf-8")):
            raise Forbidden("HMAC incorrect")
        user_id = await self._registration.register_user(
            username.lower(),
            password,
            admin=admin,
            user_type=user_type,
            displayname=displayname,
        )
        return await self._login.create_session(user_id)
