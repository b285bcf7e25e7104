"""Access, refresh and login tokens, and authenticating requests by token.

Tokens are 256 random bits in URL-safe base64 behind a prefix that says what
they are (``hsa_`` access, ``hsr_`` refresh, ``hst_`` login): the prefix lets
the log redaction filter (``homeserver.logging``) mask them and lets a leaked
token be recognised. Only the SHA-256 of a token is stored.

Refresh tokens follow spec v1.3: ``/refresh`` hands out a new access token
and a new refresh token; the old refresh token (and the access tokens issued
with it) is revoked when the new access token or the new refresh token is
first used. Refreshing again with the old token before then replaces the
unused successor.

What a token resolves to is cached in memory (most requests then need no
database read to authenticate). Every store method that deletes tokens or
changes the account flags read with them moves ``AUTH_EPOCH`` (see
``storage/stores/auth_changes.py``), which empties the cache; a lookup
whose read overlapped such a change is not cached. This assumes every such
write happens in this process.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from homeserver.config.model import Config
from homeserver.core.errors import UnknownToken
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.auth_changes import AUTH_EPOCH
from homeserver.storage.stores.devices import DeviceStore
from homeserver.storage.stores.tokens import AccessTokenInfo, TokenStore

ACCESS_TOKEN_PREFIX = "hsa_"
REFRESH_TOKEN_PREFIX = "hsr_"
LOGIN_TOKEN_PREFIX = "hst_"

#: How often a token's "last used" time (and its device's "last seen") is
#: written at most, per token.
_TOUCH_INTERVAL_S = 300.0
#: Bound on the in-memory "last written" map; it is cleared when full.
_TOUCH_MAP_MAX = 100_000
#: Bound on cached token lookups; the cache is cleared when full.
_TOKEN_CACHE_MAX = 50_000


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: what the database stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(prefix: str) -> str:
    """A new random token (256 bits) with the given prefix."""
    return prefix + secrets.token_urlsafe(32)


def new_row_id() -> int:
    """A random positive 62-bit id for token rows (never 0)."""
    return secrets.randbits(62) or 1


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """Tokens handed to a client for one device."""

    access_token: str
    #: The access token's row id (``Requester.token_id``).
    token_id: int
    refresh_token: str | None
    #: Milliseconds until the access token expires; None: it does not expire.
    expires_in_ms: int | None
    #: The refresh token's row id, when one was issued.
    refresh_token_id: int | None = None


class TokenService:
    """Issues, refreshes, revokes and checks tokens."""

    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._tokens = TokenStore()
        self._devices = DeviceStore()
        self._last_touch: dict[int, float] = {}
        #: token hash → what it resolved to, valid while AUTH_EPOCH stays at _epoch
        self._cache: dict[str, AccessTokenInfo] = {}
        self._epoch = AUTH_EPOCH.value

    async def requester_for_token(self, token: str) -> Requester:
        """The requester an access token belongs to.

        The first use of an access token that came from ``/refresh`` revokes
        the refresh token it replaced.

        Raises:
            UnknownToken: unknown or revoked token; ``soft_logout`` when it expired.
        """
        info = await self._lookup(hash_token(token))
        if info is None or info.deactivated:
            raise UnknownToken("Unknown access token")
        now = self._clock.time_ms()
        if info.valid_until_ms is not None and info.valid_until_ms <= now:
            raise UnknownToken("Access token has expired", soft_logout=True)
        if info.refresh_token_id is not None and not info.used:
            async with self._db.write() as txn:
                if await self._tokens.mark_access_token_used(txn, info.token_id, now):
                    await self._revoke_predecessors(txn, info.refresh_token_id)
        else:
            await self._maybe_touch(info.token_id, info.user_id, info.device_id, now)
        return Requester(
            user_id=info.user_id,
            device_id=info.device_id,
            is_guest=info.is_guest,
            is_admin=info.is_admin or info.user_id in self._config.admins,
            appservice_id=info.appservice_id,
            token_id=info.token_id,
            is_locked=info.locked,
            is_suspended=info.suspended,
            is_shadow_banned=info.shadow_banned,
        )

    async def _lookup(self, token_hash: str) -> AccessTokenInfo | None:
        epoch = AUTH_EPOCH.value
        if epoch != self._epoch:
            self._cache.clear()
            self._epoch = epoch
        info = self._cache.get(token_hash)
        if info is not None:
            return info
        async with self._db.read() as conn:
            info = await self._tokens.get_access_token(conn, token_hash)
        # A refreshed token's first use must reach the database (it revokes
        # the old refresh token); nothing read across an auth change is kept.
        if (
            info is not None
            and AUTH_EPOCH.value == epoch
            and (info.refresh_token_id is None or info.used)
        ):
            if len(self._cache) >= _TOKEN_CACHE_MAX:
                self._cache.clear()
            self._cache[token_hash] = info
        return info

    async def _maybe_touch(
        self, token_id: int, user_id: str, device_id: str | None, now_ms: int
    ) -> None:
        mono = self._clock.monotonic()
        last = self._last_touch.get(token_id)
        if last is not None and mono - last < _TOUCH_INTERVAL_S:
            return
        if len(self._last_touch) >= _TOUCH_MAP_MAX:
            self._last_touch.clear()
        self._last_touch[token_id] = mono
        async with self._db.write() as txn:
            await self._tokens.touch_access_token(txn, token_id, now_ms)
            if device_id is not None:
                await self._devices.touch(txn, user_id, device_id, now_ms=now_ms)

    async def issue(
        self,
        txn: Connection,
        user_id: str,
        device_id: str | None,
        *,
        with_refresh: bool,
    ) -> IssuedTokens:
        """Creates an access token (and a refresh token when asked) inside ``txn``.

        The access token expires only when a refresh token is issued with it
        and ``auth.access_token_lifetime_ms`` is set.
        """
        now = self._clock.time_ms()
        refresh_token: str | None = None
        refresh_id: int | None = None
        expires_in: int | None = None
        if with_refresh and device_id is not None:
            refresh_token = new_token(REFRESH_TOKEN_PREFIX)
            refresh_id = new_row_id()
            lifetime = self._config.auth.refresh_token_lifetime_ms
            await self._tokens.add_refresh_token(
                txn,
                token_id=refresh_id,
                token_hash=hash_token(refresh_token),
                user_id=user_id,
                device_id=device_id,
                created_ts=now,
                expiry_ts=None if lifetime is None else now + lifetime,
            )
            expires_in = self._config.auth.access_token_lifetime_ms
        access_token = new_token(ACCESS_TOKEN_PREFIX)
        token_id = new_row_id()
        await self._tokens.add_access_token(
            txn,
            token_id=token_id,
            token_hash=hash_token(access_token),
            user_id=user_id,
            device_id=device_id,
            created_ts=now,
            valid_until_ms=None if expires_in is None else now + expires_in,
            refresh_token_id=refresh_id,
        )
        return IssuedTokens(access_token, token_id, refresh_token, expires_in, refresh_id)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Exchanges a refresh token for a new access token and refresh token.

        Raises:
            UnknownToken: the refresh token is unknown, revoked or expired.
        """
        now = self._clock.time_ms()
        async with self._db.write() as txn:
            info = await self._tokens.get_refresh_token(txn, hash_token(refresh_token))
            if info is None:
                raise UnknownToken("Unknown refresh token")
            if info.expiry_ts is not None and info.expiry_ts <= now:
                await self._tokens.delete_refresh_token(txn, info.token_id)
                raise UnknownToken("Refresh token has expired")
            # Using this token proves its predecessors are no longer needed.
            await self._revoke_predecessors(txn, info.token_id)
            if info.next_token_id is not None:
                # Refreshed before, but the successor was never used: replace it.
                await self._tokens.delete_refresh_token(txn, info.next_token_id)
            issued = await self.issue(txn, info.user_id, info.device_id, with_refresh=True)
            assert issued.refresh_token_id is not None
            await self._tokens.set_next_refresh_token(txn, info.token_id, issued.refresh_token_id)
        return issued

    async def _revoke_predecessors(self, txn: Connection, refresh_token_id: int) -> None:
        for old_id in await self._tokens.predecessors_of(txn, refresh_token_id):
            await self._tokens.delete_refresh_token(txn, old_id)

    async def revoke_access_token(self, token_id: int) -> None:
        """Revokes one access token (and the refresh token issued with it)."""
        async with self._db.write() as txn:
            await self._tokens.delete_access_token(txn, token_id)

    async def create_login_token(self, user_id: str) -> str:
        """A single-use token for ``m.login.token``, valid for ``auth.login_token_lifetime_ms``."""
        token = new_token(LOGIN_TOKEN_PREFIX)
        expiry = self._clock.time_ms() + self._config.auth.login_token_lifetime_ms
        async with self._db.write() as txn:
            await self._tokens.add_login_token(txn, hash_token(token), user_id, expiry)
        return token

    async def consume_login_token(self, token: str) -> str | None:
        """Uses up a login token; returns its user id, or None if unknown or expired."""
        async with self._db.write() as txn:
            return await self._tokens.consume_login_token(
                txn, hash_token(token), self._clock.time_ms()
            )
