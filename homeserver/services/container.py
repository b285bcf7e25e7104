"""The service graph, built once per process by explicit constructor injection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from homeserver.config.model import Config
from homeserver.services.clock import Clock
from homeserver.services.ratelimit import RateLimiter
from homeserver.services.requester import Requester
from homeserver.storage.db import Database

if TYPE_CHECKING:
    from signedjson.types import SigningKey


class TokenAuth(Protocol):
    async def requester_for_token(self, token: str) -> Requester:
        """The requester an access token belongs to.

        Raises:
            UnknownToken: unknown, expired (soft_logout) or revoked token.
        """


@dataclass(slots=True)
class Services:
    config: Config
    clock: Clock
    db: Database
    signing_key: SigningKey
    ratelimiter: RateLimiter
    auth: TokenAuth


async def build_services(
    config: Config, db: Database, clock: Clock, signing_key: SigningKey
) -> Services:
    """Builds every service over an open, migrated database."""
    from homeserver.services.accounts.tokens import TokenService  # noqa: PLC0415 - wired later

    ratelimiter = RateLimiter(config.rate_limits, clock)
    return Services(
        config=config,
        clock=clock,
        db=db,
        signing_key=signing_key,
        ratelimiter=ratelimiter,
        auth=TokenService(db, clock, config),
    )
