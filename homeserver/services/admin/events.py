"""Server admin reads of single events: any event by id, and an event with
its surroundings, whatever the admin's membership or the room's history
visibility.

Context tokens use the same ``a{depth}_{stream_ordering}`` gaps as the admin
``/rooms/{roomId}/messages`` endpoint, so a page continues from them.
"""

from __future__ import annotations

from typing import Any

from homeserver.core.errors import NotFound
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.filters import RoomEventFilter
from homeserver.storage.db import Database

JsonDict = dict[str, Any]

#: Most events returned around an event.
MAX_CONTEXT_LIMIT = 100


def admin_token(key: tuple[int, int]) -> str:
    """The gap before the event with topological ``key``, as the admin
    messages endpoint reads it."""
    return f"a{key[0]}_{key[1]}"


class EventAdmin:
    def __init__(self, db: Database, rooms: Rooms) -> None:
        self._db = db
        self._rooms = rooms

    async def fetch_event(self, admin: Requester, event_id: str) -> JsonDict:
        """Any event this server stores, in client format.

        Raises:
            NotFound: no such event (outliers included).
        """
        stored = await self._rooms.cache.event(event_id)
        if stored is None:
            raise NotFound("Event not found")
        return (await self._rooms.read.serialize(admin, [stored]))[0]

    async def context(
        self,
        admin: Requester,
        room_id: str,
        event_id: str,
        *,
        limit: int,
        event_filter: RoomEventFilter,
    ) -> JsonDict:
        """The event, up to ``limit`` events around it (half before, half
        after, filtered) and the state at it; no visibility checks.

        ``start`` is the gap before the oldest event returned before it and
        ``end`` the gap after the newest returned after it.

        Raises:
            NotFound: unknown event, or one from another room.
        """
        stored = await self._rooms.cache.event(event_id)
        if stored is None or stored.pdu.room_id != room_id:
            raise NotFound("Event not found")
        limit = max(0, min(limit, MAX_CONTEXT_LIMIT))
        before_limit = limit // 2
        key = stored.topo_key
        after_key = (key[0], key[1] + 1)
        events = self._rooms.events_store
        async with self._db.read() as conn:
            before = await events.get_room_events_topological(
                conn, room_id, from_key=key, backwards=True, limit=before_limit
            )
            after = await events.get_room_events_topological(
                conn, room_id, from_key=after_key, backwards=False, limit=limit - before_limit
            )
            state_ids = (
                await self._rooms.state_store.get_state(conn, stored.state_group)
                if stored.state_group
                else {}
            )
        start_key = before[-1].topo_key if before else key
        end_key = after[-1].topo_key if after else key
        before_kept = [e for e in before if event_filter.matches(e.pdu)]
        after_kept = [e for e in after if event_filter.matches(e.pdu)]
        if event_filter.lazy_load_members:
            senders = {e.pdu.sender for e in (*before_kept, stored, *after_kept)}
            state_ids = {
                k: v for k, v in state_ids.items() if k[0] != "m.room.member" or k[1] in senders
            }
        state = sorted(
            (await self._rooms.cache.events(state_ids.values())).values(),
            key=lambda e: e.stream_ordering,
        )
        read = self._rooms.read
        return {
            "event": (await read.serialize(admin, [stored]))[0],
            "events_before": await read.serialize(admin, before_kept),
            "events_after": await read.serialize(admin, after_kept),
            "start": admin_token(start_key),
            "end": admin_token((end_key[0], end_key[1] + 1)),
            "state": await read.serialize(admin, state),
        }


__all__ = ["MAX_CONTEXT_LIMIT", "EventAdmin", "admin_token"]
