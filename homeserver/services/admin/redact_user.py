"""Redacting everything a local user sent in some rooms (the admin API's
``POST /user/{userId}/redact``).

The redactions are sent as the user (who may always redact their own
events while still in the room; elsewhere they are reported as failed) and
run before the request returns; the outcome is kept as an admin
task so ``redact_status`` can report it.
"""

from __future__ import annotations

import secrets
from typing import Any

from homeserver.core.errors import MatrixError, NotFound
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.persist import TxnKey
from homeserver.storage.db import Database
from homeserver.storage.stores.admin import AdminStore, AdminTask
from homeserver.storage.stores.admin_activity import AdminActivityStore

KIND = "redact_user"


class UserRedaction:
    def __init__(self, db: Database, clock: Clock, rooms: Rooms) -> None:
        self._db = db
        self._clock = clock
        self._rooms = rooms
        self._store = AdminStore()
        self._events = AdminActivityStore()

    async def redact(
        self, user_id: str, room_ids: list[str], reason: str | None, limit: int
    ) -> str:
        """Redacts up to ``limit`` events of the user per room; returns the task id."""
        task_id = secrets.token_urlsafe(12)
        failed: dict[str, str] = {}
        as_user = Requester(user_id=user_id, device_id=None)
        for room_id in room_ids:
            async with self._db.read() as conn:
                event_ids = await self._events.redactable_events(conn, room_id, user_id, limit)
            for event_id in event_ids:
                # The txn store keys on the path, so each redaction gets its own.
                txn = TxnKey(user_id, "", f"admin_redact/{task_id}/{event_id}", event_id)
                try:
                    await self._rooms.redact.redact(as_user, room_id, event_id, reason, txn)
                except MatrixError as e:
                    failed[event_id] = e.message
        task = AdminTask(
            task_id=task_id,
            kind=KIND,
            room_id=None,
            status="complete",
            result={"failed_redactions": failed},
            error=None,
            created_ts=self._clock.time_ms(),
        )
        async with self._db.write() as txn_conn:
            await self._store.put_task(txn_conn, task)
        return task_id

    async def status(self, task_id: str) -> dict[str, Any]:
        async with self._db.read() as conn:
            task = await self._store.get_task(conn, task_id)
        if task is None or task.kind != KIND:
            raise NotFound("Unknown redaction")
        failed = (task.result or {}).get("failed_redactions", {})
        return {"status": task.status, "failed_redactions": failed}
