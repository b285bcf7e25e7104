"""Token-bucket rate limiting, in-process.

The interface (``check(kind, key)``) is what a shared implementation for
several workers would keep.

A server admin may override the limits of one user (Synapse's
``override_ratelimit``): the override replaces every kind's rate and burst
for requests keyed by that user; ``0``/``0`` means no limit at all. The
overrides are kept in memory, loaded at startup and updated by the admin
service when one is set or removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.config.model import RateLimit, RateLimitsConfig
from homeserver.core.errors import LimitExceeded
from homeserver.services.clock import Clock


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    #: Buckets idle longer than this are forgotten (memory stays bounded).
    _PRUNE_AFTER_S = 3600.0

    def __init__(self, config: RateLimitsConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._last_prune = clock.monotonic()
        #: user id -> (per second, burst)
        self._overrides: dict[str, tuple[float, int]] = {}

    def set_override(self, user_id: str, per_second: int, burst: int) -> None:
        """Replaces the limits of ``user_id``; ``0``/``0`` means unlimited."""
        self._overrides[user_id] = (float(per_second), burst)
        self._forget(user_id)

    def delete_override(self, user_id: str) -> None:
        """Returns ``user_id`` to the configured limits."""
        self._overrides.pop(user_id, None)
        self._forget(user_id)

    def _forget(self, key: str) -> None:
        for bucket_key in [k for k in self._buckets if k[1] == key]:
            del self._buckets[bucket_key]

    def _limit(self, kind: str) -> RateLimit:
        limit = getattr(self._config, kind, None)
        if not isinstance(limit, RateLimit):
            raise KeyError(kind)
        return limit

    def check(self, kind: str, key: str, *, cost: float = 1.0) -> None:
        """Takes ``cost`` tokens from the bucket ``(kind, key)``.

        Raises:
            LimitExceeded: with the ms until enough tokens are back.
        """
        if not self._config.enabled:
            return
        override = self._overrides.get(key)
        if override is None:
            limit = self._limit(kind)
            per_second, burst = limit.per_second, limit.burst
        else:
            per_second, burst = override
            if per_second <= 0 or burst <= 0:
                return  # Synapse: an override of 0 means "not limited".
        now = self._clock.monotonic()
        self._maybe_prune(now)
        bucket = self._buckets.get((kind, key))
        if bucket is None:
            bucket = self._buckets[(kind, key)] = _Bucket(float(burst), now)
        else:
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * per_second)
            bucket.updated = now
        if bucket.tokens < cost:
            wait_s = (cost - bucket.tokens) / per_second
            raise LimitExceeded(retry_after_ms=max(1, int(wait_s * 1000)))
        bucket.tokens -= cost

    def _maybe_prune(self, now: float) -> None:
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        stale = [k for k, b in self._buckets.items() if now - b.updated > self._PRUNE_AFTER_S]
        for k in stale:
            del self._buckets[k]
