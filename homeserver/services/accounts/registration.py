"""Creating accounts: username rules, registration tokens, guests.

``register_user`` is the one way an account comes into being (the client
API, shared-secret registration and the ``register-user`` command all call
it). It creates the ``users`` row and the profile row in one transaction.
"""

from __future__ import annotations

import logging
import re
import secrets
import string
from collections.abc import Callable

from homeserver.config.model import Config
from homeserver.core.errors import InvalidIdentifier, InvalidParam, InvalidUsername, UserInUse
from homeserver.core.ids import is_valid_localpart, make_user_id, parse_server_name
from homeserver.services.accounts.passwords import PasswordHasher
from homeserver.services.clock import Clock
from homeserver.storage.db import Database
from homeserver.storage.stores.accounts import AccountStore
from homeserver.storage.stores.profiles import ProfileStore
from homeserver.storage.stores.registration_tokens import RegistrationTokenStore

logger = logging.getLogger(__name__)

#: The characters and length the spec allows in a registration token.
_REGISTRATION_TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{1,64}")


def is_registration_token(token: str) -> bool:
    """Whether ``token`` has the shape the spec gives registration tokens."""
    return _REGISTRATION_TOKEN_RE.fullmatch(token) is not None


class RegistrationService:
    """Account creation and the checks that come before it."""

    def __init__(
        self, db: Database, clock: Clock, config: Config, passwords: PasswordHasher
    ) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._passwords = passwords
        self._accounts = AccountStore()
        self._profiles = ProfileStore()
        self._reg_tokens = RegistrationTokenStore()
        #: checks on a user id a client asks to register (e.g. appservice
        #: exclusive namespaces: M_EXCLUSIVE); each raises a MatrixError
        self.username_checks: list[Callable[[str], None]] = []

    def user_id_for(self, localpart: str, *, allow_numeric: bool = False) -> str:
        """Checks a localpart for a new account and builds its user id.

        Raises:
            InvalidUsername: not allowed by the grammar, too short or too long,
                or all digits (those are reserved for guests).
        """
        if not localpart or not is_valid_localpart(localpart):
            raise InvalidUsername("User ID can only contain characters a-z, 0-9, or '._=-/+'")
        if len(localpart) < self._config.registration.username_min_length:
            raise InvalidUsername(
                "User ID must be at least "
                f"{self._config.registration.username_min_length} characters long"
            )
        if localpart.isdigit() and not allow_numeric:
            raise InvalidUsername("Numeric user IDs are reserved for guest users")
        try:
            return make_user_id(localpart, parse_server_name(self._config.server_name))
        except InvalidIdentifier as e:
            raise InvalidUsername("User ID is too long") from e

    async def check_username(self, localpart: str) -> str:
        """Checks that a localpart may be registered now.

        Returns:
            The user id it would get.

        Raises:
            InvalidUsername: see ``user_id_for``.
            UserInUse: the user id is taken (also by a deactivated account).
        """
        user_id = self.user_id_for(localpart)
        for check in self.username_checks:
            check(user_id)
        async with self._db.read() as conn:
            if await self._accounts.exists(conn, user_id):
                raise UserInUse("User ID already taken")
        return user_id

    def check_password(self, password: str) -> None:
        """Checks a new password against the policy (WeakPassword / InvalidParam)."""
        self._passwords.check_policy(password)

    async def register_user(
        self,
        localpart: str,
        password: str | None,
        *,
        admin: bool = False,
        guest: bool = False,
        user_type: str | None = None,
        displayname: str | None = None,
        appservice_id: str | None = None,
    ) -> str:
        """Creates an account.

        The password policy is not applied here (admins may set any
        password); the client API checks it with ``check_password`` first.

        Args:
            localpart: the wanted localpart, already lower-cased.
            password: the password, or None for an account that cannot log in
                with one.
            admin: make the user a server admin.
            guest: create a guest account (numeric localparts are allowed).
            user_type: e.g. ``"bot"``; None for ordinary users.
            displayname: initial display name (default: the localpart).
            appservice_id: the application service registering the user.

        Returns:
            The new user id.

        Raises:
            InvalidUsername: the localpart is not allowed.
            UserInUse: the user id is taken.
        """
        user_id = self.user_id_for(localpart, allow_numeric=guest)
        password_hash = await self._passwords.hash(password) if password is not None else None
        async with self._db.write() as txn:
            created = await self._accounts.create(
                txn,
                user_id,
                password_hash=password_hash,
                created_ts=self._clock.time_ms(),
                is_admin=admin,
                is_guest=guest,
                user_type=user_type,
                appservice_id=appservice_id,
            )
            if not created:
                raise UserInUse("User ID already taken")
            await self._profiles.create(
                txn, user_id, displayname if displayname is not None else localpart
            )
        logger.info("Registered %s%s", user_id, " (guest)" if guest else "")
        return user_id

    async def register_guest(self) -> str:
        """Creates a guest account with a random numeric localpart."""
        while True:
            localpart = str(secrets.randbelow(9 * 10**11) + 10**11)
            try:
                return await self.register_user(localpart, None, guest=True)
            except UserInUse:
                continue

    def generate_localpart(self) -> str:
        """A random localpart for clients that register without a username."""
        alphabet = string.ascii_lowercase + string.digits
        return "u" + "".join(secrets.choice(alphabet) for _ in range(11))

    # --- registration tokens ------------------------------------------------

    async def create_registration_token(
        self,
        token: str | None = None,
        *,
        uses_allowed: int | None = None,
        expiry_time: int | None = None,
    ) -> str:
        """Creates a registration token.

        Args:
            token: the token; a random 16-character one when None.
            uses_allowed: how many registrations it allows; None: unlimited.
            expiry_time: when it stops working, ms since the epoch; None: never.

        Raises:
            InvalidParam: bad token characters or length, or the token exists.
        """
        if token is None:
            alphabet = string.ascii_letters + string.digits
            token = "".join(secrets.choice(alphabet) for _ in range(16))
        if not is_registration_token(token):
            raise InvalidParam("Registration tokens are 1-64 characters of [A-Za-z0-9._~-]")
        if uses_allowed is not None and uses_allowed < 0:
            raise InvalidParam("uses_allowed must not be negative")
        async with self._db.write() as txn:
            if not await self._reg_tokens.create(
                txn, token, uses_allowed=uses_allowed, expiry_time=expiry_time
            ):
                raise InvalidParam("Registration token already exists")
        return token

    async def registration_token_valid(self, token: str) -> bool:
        """Whether the token could be used to register now."""
        if not is_registration_token(token):
            return False
        async with self._db.read() as conn:
            found = await self._reg_tokens.get(conn, token)
        return found is not None and found.is_valid(self._clock.time_ms())
