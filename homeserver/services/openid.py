"""OpenID tokens: proof of a user's identity for widgets and call services.

A client asks for a token (``POST /user/{userId}/openid/request_token``) and
hands it to a third party, which asks us who it belongs to
(``GET /_matrix/federation/v1/openid/userinfo``). The token grants nothing
else: it is not an access token.
"""

from __future__ import annotations

import secrets

from homeserver.core.errors import UnknownToken
from homeserver.services.clock import Clock
from homeserver.storage.db import Database
from homeserver.storage.stores.openid import OpenIdStore

#: Lifetime of an OpenID token: an hour, as Synapse and the spec example use.
OPENID_TOKEN_LIFETIME_MS = 3600 * 1000


class OpenIdTokens:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._store = OpenIdStore()

    async def issue(self, user_id: str) -> tuple[str, int]:
        """Makes a token for ``user_id``; returns ``(token, expires_in_ms)``."""
        token = secrets.token_urlsafe(32)
        now = self._clock.time_ms()
        async with self._db.write() as txn:
            # Expired tokens are swept on issue: no background task needed.
            await self._store.delete_expired(txn, now)
            await self._store.add(txn, token, user_id, now + OPENID_TOKEN_LIFETIME_MS)
        return token, OPENID_TOKEN_LIFETIME_MS

    async def user_for(self, token: str) -> str:
        """The user a valid token belongs to.

        Raises:
            UnknownToken: unknown or expired token.
        """
        async with self._db.read() as conn:
            user_id = await self._store.user_for(conn, token, self._clock.time_ms())
        if user_id is None:
            raise UnknownToken("Unknown or expired OpenID token")
        return user_id
