"""``GET /rooms/{roomId}/timestamp_to_event``: the event nearest a timestamp.

Candidates come from the room's events ordered by ``origin_server_ts`` in
the asked direction (forwards: the first at or after ``ts``; backwards: the
last at or before it); the first one the user may see (history visibility)
wins. Only events this server holds are searched (no federation).
"""

from __future__ import annotations

from typing import Any

from homeserver.core.errors import NotFound
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.visibility import HistoryVisibility
from homeserver.storage.db import Database
from homeserver.storage.stores.directory import DirectoryStore

JsonDict = dict[str, Any]

_PAGE = 50
#: At most this many pages of hidden events are skipped before giving up.
_MAX_PAGES = 10


class TimestampLookup:
    def __init__(self, db: Database, rooms: Rooms, store: DirectoryStore) -> None:
        self._db = db
        self._rooms = rooms
        self._store = store
        self._visibility = HistoryVisibility(db, rooms.state_store, rooms.cache)

    async def event_at(
        self, requester: Requester, room_id: str, ts: int, *, forwards: bool
    ) -> JsonDict:
        """``{event_id, origin_server_ts}`` of the nearest visible event.

        Raises:
            Forbidden: the user may not read the room.
            NotFound: no visible event in that direction.
        """
        access = await self._rooms.read.access(requester, room_id)
        joined = access.membership == "join"
        after: tuple[int, int] | None = None
        for _ in range(_MAX_PAGES):
            async with self._db.read() as conn:
                rows = await self._store.events_by_ts(
                    conn, room_id, ts, forwards=forwards, limit=_PAGE, after=after
                )
            if not rows:
                break
            found = await self._rooms.cache.events(r[0] for r in rows)
            ordered = [found[r[0]] for r in rows if r[0] in found]
            visible = await self._visibility.filter(
                requester.user_id, ordered, currently_joined=joined
            )
            if visible:
                pdu = visible[0].stored.pdu
                return {"event_id": pdu.event_id, "origin_server_ts": pdu.origin_server_ts}
            after = (rows[-1][1], rows[-1][2])
        raise NotFound("No event found in that direction")
