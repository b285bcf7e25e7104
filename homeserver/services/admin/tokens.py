"""Registration tokens and content reports, as the admin API manages them."""

from __future__ import annotations

import secrets
import string
from typing import Any

from homeserver.core.errors import InvalidParam, NotFound
from homeserver.services.accounts.registration import is_registration_token
from homeserver.services.admin.rooms import RoomAdmin
from homeserver.services.clock import Clock
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.format import client_event
from homeserver.storage.db import Database
from homeserver.storage.stores.admin import AdminStore
from homeserver.storage.stores.registration_tokens import (
    RegistrationToken,
    RegistrationTokenStore,
)

JsonDict = dict[str, Any]


class RegistrationTokenAdmin:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._tokens = RegistrationTokenStore()
        self._store = AdminStore()

    async def list(self) -> list[RegistrationToken]:
        async with self._db.read() as conn:
            rows = await self._store.list_registration_tokens(conn)
        return [
            RegistrationToken(
                token=r["token"],
                uses_allowed=None if r["uses_allowed"] is None else int(r["uses_allowed"]),
                pending=int(r["pending"]),
                completed=int(r["completed"]),
                expiry_time=None if r["expiry_time"] is None else int(r["expiry_time"]),
            )
            for r in rows
        ]

    async def get(self, token: str) -> RegistrationToken:
        async with self._db.read() as conn:
            found = await self._tokens.get(conn, token)
        if found is None:
            raise NotFound(f"No such registration token: {token}")
        return found

    async def create(
        self,
        token: str | None,
        *,
        length: int,
        uses_allowed: int | None,
        expiry_time: int | None,
    ) -> RegistrationToken:
        """Creates a token (random of ``length`` characters when ``token`` is None).

        Raises:
            InvalidParam: bad characters or length, or the token exists.
        """
        if token is None:
            alphabet = string.ascii_letters + string.digits + "._~-"
            token = "".join(secrets.choice(alphabet) for _ in range(length))
        if not is_registration_token(token):
            raise InvalidParam("Registration tokens are 1-64 characters of [A-Za-z0-9._~-]")
        async with self._db.write() as txn:
            if not await self._tokens.create(
                txn, token, uses_allowed=uses_allowed, expiry_time=expiry_time
            ):
                raise InvalidParam(f"Token already exists: {token}")
        return await self.get(token)

    async def update(self, token: str, fields: dict[str, int | None]) -> RegistrationToken:
        async with self._db.write() as txn:
            if not await self._store.update_registration_token(txn, token, fields):
                raise NotFound(f"No such registration token: {token}")
        return await self.get(token)

    async def delete(self, token: str) -> None:
        async with self._db.write() as txn:
            if not await self._tokens.delete(txn, token):
                raise NotFound(f"No such registration token: {token}")


class ReportAdmin:
    """Event reports (``content_reports`` rows that name an event)."""

    def __init__(self, db: Database, clock: Clock, rooms: Rooms, room_admin: RoomAdmin) -> None:
        self._db = db
        self._room_admin = room_admin
        self._clock = clock
        self._rooms = rooms
        self._store = AdminStore()

    async def _json(self, row: Any, *, with_event: bool) -> JsonDict:
        room_id = row["room_id"]
        out: JsonDict = {
            "id": int(row["id"]),
            "received_ts": int(row["received_ts"]),
            "room_id": room_id,
            "event_id": row["event_id"],
            "user_id": row["user_id"],
            "reason": row["reason"],
            "score": None if row["score"] is None else int(row["score"]),
            "name": None,
            "canonical_alias": None,
            "sender": None,
        }
        try:
            summary = await self._room_admin.summary(room_id)
        except NotFound:
            summary = {}
        out["name"] = summary.get("name")
        out["canonical_alias"] = summary.get("canonical_alias")
        stored = await self._rooms.cache.event(row["event_id"]) if row["event_id"] else None
        if stored is not None:
            out["sender"] = stored.pdu.sender
            if with_event:
                out["event_json"] = client_event(stored.pdu, now_ms=self._clock.time_ms())
        return out

    async def list(
        self,
        *,
        offset: int,
        limit: int,
        descending: bool,
        user_id: str | None,
        room_id: str | None,
    ) -> JsonDict:
        async with self._db.read() as conn:
            rows, total = await self._store.list_reports(
                conn,
                offset=offset,
                limit=limit,
                descending=descending,
                user_id=user_id,
                room_id=room_id,
                rooms_only=False,
            )
        out: JsonDict = {
            "event_reports": [await self._json(r, with_event=False) for r in rows],
            "total": total,
        }
        if offset + len(rows) < total:
            out["next_token"] = offset + len(rows)
        return out

    async def list_room_reports(
        self,
        *,
        offset: int,
        limit: int,
        descending: bool,
        user_id: str | None,
        room_id: str | None,
    ) -> JsonDict:
        """A page of the reports of whole rooms, as ``GET /room_reports``
        serves it; ``next_token`` is the offset of the next page."""
        async with self._db.read() as conn:
            rows, total = await self._store.list_reports(
                conn,
                offset=offset,
                limit=limit,
                descending=descending,
                user_id=user_id,
                room_id=room_id,
                rooms_only=True,
            )
        reports: list[JsonDict] = []
        for row in rows:
            full = await self._json(row, with_event=False)
            reports.append({k: full[k] for k in _ROOM_REPORT_FIELDS})
        out: JsonDict = {"room_reports": reports, "total": total}
        if offset + len(rows) < total:
            out["next_token"] = offset + len(rows)
        return out

    async def get(self, report_id: int) -> JsonDict:
        async with self._db.read() as conn:
            row = await self._store.get_report(conn, report_id)
        if row is None or row["event_id"] is None:
            raise NotFound("Event report not found")
        return await self._json(row, with_event=True)

    async def delete(self, report_id: int) -> None:
        async with self._db.write() as txn:
            row = await self._store.get_report(txn, report_id)
            if row is None or row["event_id"] is None:
                raise NotFound("Event report not found")
            await self._store.delete_report(txn, report_id)


_ROOM_REPORT_FIELDS = (
    "id",
    "received_ts",
    "room_id",
    "name",
    "canonical_alias",
    "user_id",
    "reason",
)

__all__ = ["RegistrationToken", "RegistrationTokenAdmin", "ReportAdmin"]
