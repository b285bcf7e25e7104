"""Token-bucket rate limiting, in-process.

The interface (``check(kind, key)``) is what a shared implementation for
several workers would keep.
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
        limit = self._limit(kind)
        now = self._clock.monotonic()
        self._maybe_prune(now)
        bucket = self._buckets.get((kind, key))
        if bucket is None:
            bucket = self._buckets[(kind, key)] = _Bucket(float(limit.burst), now)
        else:
            bucket.tokens = min(
                float(limit.burst), bucket.tokens + (now - bucket.updated) * limit.per_second
            )
            bucket.updated = now
        if bucket.tokens < cost:
            wait_s = (cost - bucket.tokens) / limit.per_second
            raise LimitExceeded(retry_after_ms=max(1, int(wait_s * 1000)))
        bucket.tokens -= cost

    def _maybe_prune(self, now: float) -> None:
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        stale = [k for k, b in self._buckets.items() if now - b.updated > self._PRUNE_AFTER_S]
        for k in stale:
            del self._buckets[k]
