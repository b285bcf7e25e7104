"""Message retention: purging events older than their room's lifetime.

A room's ``max_lifetime`` comes from its ``m.room.retention`` state event
(MSC1763), else the server's ``retention.default_max_lifetime_ms``, clamped
to ``[allowed_lifetime_min_ms, allowed_lifetime_max_ms]``. The purge job
runs every ``purge_interval_ms`` while ``retention.enabled`` is true, and
deletes for good (not just hides) each expired non-state event, its
per-event rows, and the local media it alone referenced, files included.

State events are never purged (the room's state must stay resolvable), nor
the room's newest event or its forward extremities (new events need
``prev_events``). Events are deleted when the job runs, not hidden before:
between runs an expired event can still be read, for at most
``purge_interval_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from homeserver.config.model import RetentionConfig
from homeserver.services.clock import Clock
from homeserver.services.media.files import MEDIA_ID_RE, MediaFiles
from homeserver.services.rooms.cache import RoomCache
from homeserver.storage.db import Database
from homeserver.storage.stores.retention import RetentionStore

logger = logging.getLogger(__name__)

_BATCH = 500


@dataclass(frozen=True, slots=True)
class PurgeResult:
    events: int
    media: int


class RetentionService:
    """Applies retention policies; owns the background purge task."""

    def __init__(
        self,
        db: Database,
        store: RetentionStore,
        cache: RoomCache,
        files: MediaFiles,
        clock: Clock,
        config: RetentionConfig,
        server_name: str,
    ) -> None:
        self._db = db
        self._store = store
        self._cache = cache
        self._files = files
        self._clock = clock
        self._config = config
        self._mxc_prefix = f"mxc://{server_name}/"
        self._task: asyncio.Task[None] | None = None

    def max_lifetime(self, policy: dict[str, object] | None) -> int | None:
        """The lifetime (ms) of a room with this ``m.room.retention`` content; None: keep."""
        raw = (policy or {}).get("max_lifetime")
        lifetime: int | None
        if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
            lifetime = raw
        else:
            lifetime = self._config.default_max_lifetime_ms
        if lifetime is None:
            return None
        low, high = self._config.allowed_lifetime_min_ms, self._config.allowed_lifetime_max_ms
        if low is not None:
            lifetime = max(lifetime, low)
        if high is not None:
            lifetime = min(lifetime, high)
        return lifetime

    async def purge_expired(self) -> PurgeResult:
        """Runs one purge over every room now."""
        now = self._clock.time_ms()
        async with self._db.read() as conn:
            policies = await self._store.policies(conn)
            room_ids = await self._store.room_ids(conn)
        events = media = 0
        for room_id in room_ids:
            lifetime = self.max_lifetime(policies.get(room_id))
            if lifetime is None:
                continue
            while True:
                async with self._db.read() as conn:
                    batch = await self._store.expired_events(conn, room_id, now - lifetime, _BATCH)
                if not batch:
                    break
                purged, removed = await self._purge_batch(batch)
                events += purged
                media += removed
                if len(batch) < _BATCH:
                    break
        if events:
            logger.info("retention purge: %d events, %d media files deleted", events, media)
        return PurgeResult(events, media)

    async def _purge_batch(self, batch: list[tuple[str, str]]) -> tuple[int, int]:
        event_ids = [event_id for event_id, _ in batch]
        media_ids = {m for _, raw in batch for m in self._media_ids(raw)}
        async with self._db.write() as txn:
            purged = await self._store.purge_events(txn, event_ids)
        self._cache.forget_events(event_ids)
        removed = 0
        for media_id in sorted(media_ids):
            async with self._db.write() as txn:
                if await self._store.media_still_referenced(txn, self._mxc_prefix + media_id):
                    continue
                thumbnails = await self._store.delete_media(txn, media_id)
            await asyncio.to_thread(self._delete_files, media_id, thumbnails)
            removed += 1
        return purged, removed

    def _media_ids(self, raw: str) -> Iterator[str]:
        try:
            content = json.loads(raw).get("content")
        except (ValueError, AttributeError):
            return
        for value in _strings(content):
            if value.startswith(self._mxc_prefix):
                media_id = value.removeprefix(self._mxc_prefix)
                if MEDIA_ID_RE.match(media_id):
                    yield media_id

    def _delete_files(self, media_id: str, thumbnails: list[str]) -> None:
        self._files.content_path(media_id).unlink(missing_ok=True)
        for rel in thumbnails:
            (self._files.root / rel).unlink(missing_ok=True)

    async def start(self) -> None:
        """Starts the purge loop when retention is enabled."""
        if self._config.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="retention-purge")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.purge_expired()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("retention purge failed")
            # Real time between runs (as the delayed-events sender): an
            # injected fake clock only decides which events have expired.
            await asyncio.sleep(self._config.purge_interval_ms / 1000)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
