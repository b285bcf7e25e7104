"""Logging in and out.

A session is a device plus its tokens. ``create_session`` is shared by
login and registration, so both hand out tokens the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from homeserver.config.model import Config
from homeserver.core.errors import Forbidden, InvalidIdentifier, UserDeactivated
from homeserver.core.ids import make_user_id, parse_server_name, parse_user_id, server_name_of
from homeserver.services.accounts.devices import DeviceService
from homeserver.services.accounts.passwords import PasswordHasher
from homeserver.services.accounts.tokens import TokenService
from homeserver.services.requester import Requester
from homeserver.storage.db import Database
from homeserver.storage.stores.accounts import Account, AccountStore
from homeserver.storage.stores.tokens import TokenStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginResult:
    user_id: str
    device_id: str
    access_token: str
    refresh_token: str | None
    expires_in_ms: int | None

    def to_json(self, server_name: str) -> dict[str, Any]:
        """The body of a /login or /register response."""
        out: dict[str, Any] = {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "access_token": self.access_token,
            # Deprecated, but still read by older clients.
            "home_server": server_name,
        }
        if self.refresh_token is not None:
            out["refresh_token"] = self.refresh_token
        if self.expires_in_ms is not None:
            out["expires_in_ms"] = self.expires_in_ms
        return out


class LoginService:
    """Password and token login, sessions and logout."""

    def __init__(
        self,
        db: Database,
        config: Config,
        passwords: PasswordHasher,
        tokens: TokenService,
        devices: DeviceService,
    ) -> None:
        self._db = db
        self._config = config
        self._passwords = passwords
        self._tokens = tokens
        self._devices = devices
        self._accounts = AccountStore()
        self._token_store = TokenStore()

    async def create_session(
        self,
        user_id: str,
        *,
        device_id: str | None = None,
        display_name: str | None = None,
        with_refresh: bool = False,
    ) -> LoginResult:
        """Creates (or reuses) a device for the user and issues its tokens."""
        async with self._db.write() as txn:
            device_id = await self._devices.create_or_reuse(txn, user_id, device_id, display_name)
            issued = await self._tokens.issue(txn, user_id, device_id, with_refresh=with_refresh)
        await self._devices.devices_changed(user_id)
        return LoginResult(
            user_id=user_id,
            device_id=device_id,
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_in_ms=issued.expires_in_ms,
        )

    async def resolve_user(self, user: str) -> Account | None:
        """The local account a login identifier names, or None.

        Args:
            user: a localpart or a full user id. Ids are matched exactly first,
                then ignoring case (accounts from before ids were lower-cased).
        """
        if user.startswith("@"):
            try:
                user_id = parse_user_id(user, strict=False)
            except InvalidIdentifier:
                return None
            if server_name_of(user_id) != self._config.server_name:
                return None
        else:
            try:
                user_id = make_user_id(
                    user, parse_server_name(self._config.server_name), strict=False
                )
            except InvalidIdentifier:
                return None
        async with self._db.read() as conn:
            account = await self._accounts.get(conn, user_id)
            if account is not None:
                return account
            matches = await self._accounts.find_case_insensitive(conn, user_id)
        return matches[0] if len(matches) == 1 else None

    async def check_password(self, user: str, password: str) -> Account:
        """Checks a user's password.

        Raises:
            Forbidden: unknown user or wrong password (one message for both).
            UserDeactivated: the password is right but the account is deactivated.
        """
        account = await self.resolve_user(user)
        hashed = account.password_hash if account is not None else None
        if not await self._passwords.verify(hashed, password) or account is None:
            raise Forbidden("Invalid username or password")
        if account.deactivated:
            raise UserDeactivated("This account has been deactivated")
        return account

    async def login_with_password(
        self,
        user: str,
        password: str,
        *,
        device_id: str | None = None,
        display_name: str | None = None,
        with_refresh: bool = False,
    ) -> LoginResult:
        """``m.login.password``: checks the password and starts a session.

        Raises:
            Forbidden: unknown user or wrong password.
            UserDeactivated: the account is deactivated.
        """
        account = await self.check_password(user, password)
        logger.info("Password login for %s", account.user_id)
        return await self.create_session(
            account.user_id,
            device_id=device_id,
            display_name=display_name,
            with_refresh=with_refresh,
        )

    async def login_with_token(
        self,
        token: str,
        *,
        device_id: str | None = None,
        display_name: str | None = None,
        with_refresh: bool = False,
    ) -> LoginResult:
        """``m.login.token``: uses up a login token and starts a session.

        Raises:
            Forbidden: unknown, used or expired token (403 M_FORBIDDEN, as the spec says).
            UserDeactivated: the account is deactivated.
        """
        user_id = await self._tokens.consume_login_token(token)
        if user_id is None:
            raise Forbidden("Invalid or expired login token")
        async with self._db.read() as conn:
            account = await self._accounts.get(conn, user_id)
        if account is None or account.deactivated:
            raise UserDeactivated("This account has been deactivated")
        logger.info("Token login for %s", user_id)
        return await self.create_session(
            user_id, device_id=device_id, display_name=display_name, with_refresh=with_refresh
        )

    async def logout(self, requester: Requester) -> None:
        """Revokes the requester's token and deletes its device."""
        async with self._db.write() as txn:
            if requester.device_id is not None:
                await self._devices.delete_devices_in(txn, requester.user_id, [requester.device_id])
            if requester.token_id is not None:
                await self._token_store.delete_access_token(txn, requester.token_id)
        if requester.device_id is not None:
            await self._devices.devices_changed(requester.user_id)

    async def logout_all(self, user_id: str) -> None:
        """Revokes every token of the user and deletes all their devices."""
        async with self._db.write() as txn:
            await self._devices.delete_all_devices_in(txn, user_id)
            await self._token_store.delete_all_for_user(txn, user_id)
        await self._devices.devices_changed(user_id)
