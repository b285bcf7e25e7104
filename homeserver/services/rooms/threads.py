"""``GET /rooms/{roomId}/threads``: the room's thread roots, most recent
activity first.

A thread is a root event plus the events with an ``m.thread`` relation to
it; its activity is the stream position of its newest live reply. Roots are
served through the reader (history visibility, bundled aggregations with the
``m.thread`` summary). ``include=participated`` keeps threads the user started
or replied in. ``next_batch`` is the activity position of the last thread
returned; the next page has threads with older activity.
"""

from __future__ import annotations

from typing import Any

from homeserver.core.errors import InvalidParam
from homeserver.services.requester import Requester
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.rooms.read import RoomReader
from homeserver.services.rooms.visibility import HistoryVisibility
from homeserver.storage.db import Database
from homeserver.storage.stores.relations import RelationStore

JsonDict = dict[str, Any]

DEFAULT_LIMIT = 5
MAX_LIMIT = 100
INCLUDE = ("all", "participated")


def _parse_token(token: str) -> int:
    if not token.isascii() or not token.isdigit() or int(token) > 2**63 - 1:
        raise InvalidParam("Unknown pagination token")
    return int(token)


class ThreadsService:
    def __init__(
        self,
        db: Database,
        store: RelationStore,
        cache: RoomCache,
        visibility: HistoryVisibility,
        reader: RoomReader,
    ) -> None:
        self._db = db
        self._store = store
        self._cache = cache
        self._visibility = visibility
        self._reader = reader

    async def list_threads(
        self,
        requester: Requester,
        room_id: str,
        *,
        include: str,
        from_token: str | None,
        limit: int,
    ) -> JsonDict:
        """A page of thread roots the user may see.

        Raises:
            Forbidden: the user may not read the room.
            InvalidParam: bad ``include`` or token.
        """
        if include not in INCLUDE:
            raise InvalidParam("'include' must be 'all' or 'participated'")
        before = _parse_token(from_token) if from_token is not None else None
        access = await self._reader.access(requester, room_id)
        limit = max(1, min(limit, MAX_LIMIT))
        participant = requester.user_id if include == "participated" else None
        async with self._db.read() as conn:
            rows = await self._store.threads(
                conn, room_id, before=before, limit=limit + 1, participant=participant
            )
        more = len(rows) > limit
        rows = rows[:limit]
        found = await self._cache.events(r.root_id for r in rows)
        roots = [found[r.root_id] for r in rows if r.root_id in found]
        visible = await self._visibility.filter(
            requester.user_id, roots, currently_joined=access.membership == "join"
        )
        body: JsonDict = {"chunk": await self._reader.serialize(requester, visible)}
        if more:
            body["next_batch"] = str(rows[-1].latest)
        return body
