"""Presence (client-server spec "Presence").

The latest state per local user lives in the ``presence`` table, each change
at a position of the presence stream. "unavailable" after inactivity is
derived when read (``idle_timeout_ms``), so no timer runs per user. A user's
presence is visible to themselves and to users sharing a room with them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from homeserver.config.model import PresenceConfig
from homeserver.core.errors import Forbidden, InvalidParam, NotFound
from homeserver.notifier import Notifier
from homeserver.services.clock import Clock
from homeserver.services.sync.streams import SyncStreams
from homeserver.storage.db import Database
from homeserver.storage.stores.presence import PresenceRow, PresenceStore
from homeserver.storage.stores.state import StateStore

STATES = frozenset({"online", "unavailable", "offline"})
#: How long after the last activity a user counts as currently active.
CURRENTLY_ACTIVE_MS = 60_000
#: Sync-driven refreshes of last_active_ts are written at most this often.
ACTIVITY_WRITE_INTERVAL_MS = 60_000
MAX_STATUS_MSG = 1024
#: sync-driven presence remembered, at most (then forgotten all at once)
_FROM_SYNC_MAX = 100_000


class PresenceService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: PresenceConfig,
        notifier: Notifier,
        streams: SyncStreams,
        state_store: StateStore,
        store: PresenceStore | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._notifier = notifier
        self._streams = streams
        self._state = state_store
        self._store = store or PresenceStore()
        #: user → (state, last_active_ts) of their stored row, as written or
        #: read by a sync-driven update: a /sync that would change nothing
        #: skips the read (this process writes every presence row)
        self._from_sync: dict[str, tuple[str, int]] = {}

    @property
    def enabled(self) -> bool:
        return self._config.enabled

    @property
    def store(self) -> PresenceStore:
        return self._store

    async def set_presence(
        self,
        user_id: str,
        state: str,
        status_msg: str | None = None,
        *,
        keep_status: bool = False,
        from_sync: bool = False,
    ) -> None:
        """Sets the user's presence; ``keep_status`` leaves status_msg as it was.

        A sync-driven update writes only when the state changes or the stored
        activity is older than :data:`ACTIVITY_WRITE_INTERVAL_MS`.

        Raises:
            InvalidParam: an unknown state or an over-long status message.
        """
        if state not in STATES:
            raise InvalidParam(f"Unknown presence state {state[:40]!r}")
        if status_msg is not None and len(status_msg) > MAX_STATUS_MSG:
            raise InvalidParam("status_msg is too long")
        if not self._config.enabled:
            return
        now = self._clock.time_ms()
        if from_sync:
            known = self._from_sync.get(user_id)
            if (
                known is not None
                and known[0] == state
                and now - known[1] < ACTIVITY_WRITE_INTERVAL_MS
            ):
                return
        else:
            self._from_sync.pop(user_id, None)
        async with self._db.read() as conn:
            old = await self._store.get(conn, user_id)
        if keep_status and old is not None:
            status_msg = old.status_msg
        if (
            from_sync
            and old is not None
            and old.state == state
            and now - old.last_active_ts < ACTIVITY_WRITE_INTERVAL_MS
        ):
            self._remember(user_id, old.state, old.last_active_ts)
            return
        active = state == "online"
        row = PresenceRow(
            user_id=user_id,
            state=state,
            status_msg=status_msg,
            last_active_ts=now if active or old is None else old.last_active_ts,
            currently_active=active,
            stream_id=0,
        )
        with self._streams.presence.allocating() as positions:
            async with self._db.write() as txn:
                row = replace(row, stream_id=positions.next())
                await self._store.upsert(txn, row)
                rooms = await self._state.rooms_for_user(txn, user_id)
            positions.announce(rooms=rooms, users=(user_id,))
        if from_sync:
            self._remember(user_id, row.state, row.last_active_ts)

    def _remember(self, user_id: str, state: str, last_active_ts: int) -> None:
        if len(self._from_sync) >= _FROM_SYNC_MAX:
            self._from_sync.clear()
        self._from_sync[user_id] = (state, last_active_ts)

    def to_content(self, row: PresenceRow) -> dict[str, Any]:
        """The ``m.presence`` content of a row, with idleness derived now."""
        now = self._clock.time_ms()
        ago = max(0, now - row.last_active_ts)
        state = row.state
        if state == "online" and ago >= self._config.idle_timeout_ms:
            state = "unavailable"
        content: dict[str, Any] = {
            "presence": state,
            "last_active_ago": ago,
            "currently_active": state == "online" and ago < CURRENTLY_ACTIVE_MS,
        }
        if row.status_msg is not None:
            content["status_msg"] = row.status_msg
        return content

    async def get_presence(self, viewer: str, user_id: str) -> dict[str, Any]:
        """``GET /presence/{userId}/status``.

        Raises:
            Forbidden: presence is off, or the users share no room.
            NotFound: the user never set presence.
        """
        if not self._config.enabled:
            raise Forbidden("Presence is disabled on this server")
        async with self._db.read() as conn:
            if viewer != user_id:
                theirs = await self._state.rooms_for_user(conn, user_id)
                mine = await self._state.rooms_for_user(conn, viewer)
                if not set(theirs) & set(mine):
                    raise Forbidden("You do not share a room with this user")
            row = await self._store.get(conn, user_id)
        if row is None:
            return {"presence": "offline"}
        return self.to_content(row)

    async def check_user_exists(self, user_id: str) -> None:  # pragma: no cover - hook
        """Reserved for remote users (federation presence), not wired yet."""
        raise NotFound("Unknown user")
