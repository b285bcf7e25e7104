"""Changing a password and deactivating an account.

Deactivation keeps the ``users`` row (the user id is never reused), drops the
password, deletes every device and token, then runs ``deactivation_hooks``
after the commit: other parts of the server (rooms, profiles, the user
directory, pushers) clean up there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from homeserver.core.errors import NotFound
from homeserver.services.accounts.devices import DeviceService
from homeserver.services.accounts.passwords import PasswordHasher
from homeserver.storage.db import Database
from homeserver.storage.stores.accounts import AccountStore
from homeserver.storage.stores.tokens import TokenStore

logger = logging.getLogger(__name__)

#: Called as ``hook(user_id, erase)`` after a deactivation has committed.
DeactivationHook = Callable[[str, bool], Awaitable[None]]


class AccountService:
    """Password changes and deactivation of local accounts."""

    def __init__(self, db: Database, passwords: PasswordHasher, devices: DeviceService) -> None:
        self._db = db
        self._passwords = passwords
        self._devices = devices
        self._accounts = AccountStore()
        self._tokens = TokenStore()
        self.deactivation_hooks: list[DeactivationHook] = []

    async def change_password(
        self,
        user_id: str,
        new_password: str,
        *,
        logout_devices: bool = True,
        keep_device_id: str | None = None,
        keep_token_id: int | None = None,
    ) -> None:
        """Sets a new password.

        Args:
            user_id: the account.
            new_password: checked against the password policy.
            logout_devices: also delete every other device and revoke every
                other token of the user.
            keep_device_id: the device to keep (the one making the request).
            keep_token_id: the access token to keep (the one making the request).

        Raises:
            WeakPassword / InvalidParam: the password breaks the policy.
            NotFound: no such account.
        """
        self._passwords.check_policy(new_password)
        password_hash = await self._passwords.hash(new_password)
        async with self._db.write() as txn:
            if await self._accounts.get(txn, user_id) is None:
                raise NotFound("Unknown user")
            await self._accounts.set_password_hash(txn, user_id, password_hash)
            if logout_devices:
                await self._devices.delete_all_devices_in(
                    txn, user_id, keep_device_id=keep_device_id
                )
                await self._tokens.delete_all_for_user(txn, user_id, except_token_id=keep_token_id)
        logger.info("Password changed for %s", user_id)

    async def deactivate(self, user_id: str, *, erase: bool = False) -> None:
        """Deactivates an account: no more logins, every device and token gone.

        Args:
            user_id: the account.
            erase: also mark the account erased (its messages are hidden from
                users who join later, as the spec asks).
        """
        async with self._db.write() as txn:
            await self._accounts.deactivate(txn, user_id, erase=erase)
            await self._devices.delete_all_devices_in(txn, user_id)
            await self._tokens.delete_all_for_user(txn, user_id)
        logger.info("Deactivated %s%s", user_id, " (erased)" if erase else "")
        for hook in self.deactivation_hooks:
            await hook(user_id, erase)
