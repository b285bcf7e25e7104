"""Authenticating application services by ``as_token``, with masquerading.

An appservice's requests carry its ``as_token``. They act as its sender user
unless the ``user_id`` query parameter names another user, which must be a
local user in its users namespace (or the sender) and must exist (403
M_FORBIDDEN otherwise). ``device_id`` (spec v1.17, MSC4326; or the unstable
``org.matrix.msc3202.device_id``) names one of that user's devices (400
M_UNKNOWN_DEVICE when it has none by that id), for every appservice as in
Synapse. Any other token goes to the ordinary token service.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from homeserver.core.errors import Codes, Forbidden, MatrixError
from homeserver.services.appservice.namespaces import AppService
from homeserver.services.requester import Requester
from homeserver.storage.db import Database
from homeserver.storage.stores.accounts import AccountStore
from homeserver.storage.stores.devices import DeviceStore


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class AppserviceAuth:
    def __init__(self, db: Database, appservices: Sequence[AppService], server_name: str) -> None:
        self._db = db
        # Looked up by the token's digest, so the lookup time says nothing
        # about how much of a guessed token is right.
        self._by_token = {_digest(a.registration.as_token): a for a in appservices}
        self._server_name = server_name
        self._accounts = AccountStore()
        self._devices = DeviceStore()

    def appservice_for_token(self, token: str) -> AppService | None:
        """The appservice whose ``as_token`` this is, if any."""
        if not self._by_token:
            return None
        return self._by_token.get(_digest(token))

    async def requester_for(
        self, svc: AppService, user_id: str | None, device_id: str | None
    ) -> Requester:
        """The requester an appservice's request acts as.

        Raises:
            Forbidden: ``user_id`` is outside its namespace or not registered.
            MatrixError: M_UNKNOWN_DEVICE for a ``device_id`` the user lacks.
        """
        acting = user_id or svc.sender
        if acting != svc.sender:
            if not acting.endswith(":" + self._server_name) or not svc.users.matches(acting):
                raise Forbidden("Application service cannot masquerade as this user")
            async with self._db.read() as conn:
                if not await self._accounts.exists(conn, acting):
                    raise Forbidden("Application service has not registered this user")
        device: str | None = None
        if device_id:
            async with self._db.read() as conn:
                if await self._devices.get(conn, acting, device_id) is None:
                    raise MatrixError(
                        "Application service is using a device that does not exist",
                        code=Codes.UNKNOWN_DEVICE,
                    )
            device = device_id
        return Requester(user_id=acting, device_id=device, appservice_id=svc.id)
