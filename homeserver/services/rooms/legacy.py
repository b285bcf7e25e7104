"""The deprecated pre-/sync endpoints, kept for old clients.

- ``GET /events/{eventId}``: ``/rooms/{roomId}/event/{eventId}`` without the
  room id: the event's room is looked up, then the same visibility applies.
- ``GET /rooms/{roomId}/initialSync``: one room's newest messages, state,
  visibility and the user's room account data (from ``read.py``).
- ``GET /initialSync``: the same for every room the user is joined or
  invited to (with ``archived``, also rooms they left), plus a stream token
  for ``/events``.
- ``GET /events``: the old event stream. It is an incremental /sync from the
  given token (which long-polls the same way) whose joined-room timelines,
  ephemeral events and presence are flattened into one ``chunk``; tokens are
  /sync tokens. With ``room_id`` it peeks into one room the user may read
  (joined or ``world_readable``; 403 otherwise).

Presence and receipts are not part of the initialSync answers (empty lists):
clients that still use these endpoints read them from the event stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

from homeserver.core.errors import Forbidden, NotFound
from homeserver.core.tokens import StreamToken
from homeserver.notifier import Notifier
from homeserver.services.account_data import AccountDataService
from homeserver.services.filters import Filter
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.directory import DirectoryService
from homeserver.services.rooms.filters import RoomEventFilter
from homeserver.services.rooms.visibility import HistoryVisibility
from homeserver.services.sync import Sync
from homeserver.services.sync.service import SyncRequest
from homeserver.storage.db import Database

JsonDict = dict[str, Any]

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
#: Most events one peek answer holds.
_PEEK_LIMIT = 100


class LegacySync:
    def __init__(
        self,
        db: Database,
        rooms: Rooms,
        sync: Sync,
        directory: DirectoryService,
        account_data: AccountDataService,
        notifier: Notifier,
        *,
        timeout_cap_ms: int,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._sync = sync
        self._directory = directory
        self._account_data = account_data
        self._notifier = notifier
        self._visibility = HistoryVisibility(db, rooms.state_store, rooms.cache)
        self._timeout_cap_ms = timeout_cap_ms

    async def event(self, requester: Requester, event_id: str) -> JsonDict:
        """One event, wherever it is.

        Raises:
            NotFound: unknown, or not visible to the requester.
        """
        stored = await self._rooms.cache.event(event_id)
        if stored is None:
            raise NotFound("Event not found")
        return await self._rooms.read.get_event(requester, stored.pdu.room_id, event_id)

    async def current_token(self) -> StreamToken:
        async with self._db.read() as conn:
            return await self._sync.tokens.current_token(conn)

    async def room_initial_sync(
        self, requester: Requester, room_id: str, limit: int = DEFAULT_LIMIT
    ) -> JsonDict:
        """One room's snapshot for ``/rooms/{roomId}/initialSync``.

        Raises:
            Forbidden: the user may not read the room.
        """
        access = await self._rooms.read.access(requester, room_id)
        page = await self._rooms.read.messages(
            requester,
            room_id,
            from_token=None,
            to_token=None,
            backwards=True,
            limit=max(1, min(limit, MAX_LIMIT)),
            event_filter=RoomEventFilter(),
        )
        state_ids = access.state.values()
        state = await self._rooms.cache.events(state_ids)
        ordered = sorted(state.values(), key=lambda e: e.stream_ordering)
        out: JsonDict = {
            "room_id": room_id,
            "messages": {
                "chunk": list(reversed(page["chunk"])),
                "start": page.get("end", page["start"]),
                "end": page["start"],
            },
            "state": await self._rooms.read.serialize(requester, ordered),
            "visibility": await self._directory.get_visibility(room_id),
            "account_data": await self._room_account_data(requester.user_id, room_id),
            "presence": [],
            "receipts": [],
        }
        if access.membership is not None:
            out["membership"] = access.membership
        return out

    async def _room_account_data(self, user_id: str, room_id: str) -> list[JsonDict]:
        changes = await self._account_data.changes_since(user_id, 0)
        latest: dict[str, JsonDict] = {}
        for change in changes:
            if change.room_id == room_id:
                latest[change.type] = {"type": change.type, "content": change.content}
        return list(latest.values())

    async def initial_sync(
        self, requester: Requester, limit: int = DEFAULT_LIMIT, archived: bool = False
    ) -> JsonDict:
        """Every room of the user for ``GET /initialSync``."""
        end = await self.current_token()
        memberships = ("join", "invite", "leave", "ban") if archived else ("join", "invite")
        async with self._db.read() as conn:
            rooms = await self._rooms.state_store.rooms_for_user(
                conn, requester.user_id, memberships
            )
        out: list[JsonDict] = []
        for room_id, membership in sorted(rooms.items()):
            if membership == "invite":
                out.append({"room_id": room_id, "membership": "invite"})
                continue
            try:
                room = await self.room_initial_sync(requester, room_id, limit)
            except Forbidden:
                continue
            room["membership"] = membership
            out.append(room)
        global_data = [
            {"type": c.type, "content": c.content}
            for c in await self._account_data.changes_since(requester.user_id, 0)
            if c.room_id is None
        ]
        return {"end": end.encode(), "rooms": out, "presence": [], "account_data": global_data}

    async def events(
        self,
        requester: Requester,
        since: StreamToken | None,
        timeout_ms: int,
        room_id: str | None = None,
    ) -> JsonDict:
        """A chunk of the event stream after ``since`` (now, when None).

        Raises:
            Forbidden: ``room_id`` names a room the user may not read.
        """
        start = since if since is not None else await self.current_token()
        if room_id is not None:
            return await self._peek(requester, room_id, start, timeout_ms)
        body = await self._sync.sync.sync(
            SyncRequest(requester=requester, since=start, filter=Filter(), timeout_ms=timeout_ms)
        )
        chunk: list[JsonDict] = []
        for joined_id, room in body["rooms"]["join"].items():
            for event in room["timeline"]["events"]:
                chunk.append({**event, "room_id": joined_id})
            for event in room["ephemeral"]["events"]:
                chunk.append({**event, "room_id": joined_id})
        chunk.extend(body["presence"]["events"])
        return {"start": start.encode(), "end": body["next_batch"], "chunk": chunk}

    async def _peek(
        self, requester: Requester, room_id: str, since: StreamToken, timeout_ms: int
    ) -> JsonDict:
        access = await self._rooms.read.access(requester, room_id)
        timeout_s = max(0, min(timeout_ms, self._timeout_cap_ms)) / 1000
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            now = await self.current_token()
            async with self._db.read() as conn:
                page = await self._rooms.events_store.get_room_events_stream(
                    conn, room_id, after=since.room, up_to=now.room, limit=_PEEK_LIMIT
                )
            visible = await self._visibility.filter(
                requester.user_id, page, currently_joined=access.membership == "join"
            )
            remaining = deadline - loop.time()
            if visible or remaining <= 0:
                break
            woken = await self._notifier.wait_for_events(
                requester.user_id, [room_id], since.advance(room=now.room), remaining
            )
            if not woken:
                now = await self.current_token()
                break
        chunk = await self._rooms.read.serialize(requester, visible)
        # Up to the newest event looked at (a busy room's older events past
        # the page size are skipped, as the old stream did).
        end = since.advance(room=now.room)
        return {"start": since.encode(), "end": end.encode(), "chunk": chunk}
