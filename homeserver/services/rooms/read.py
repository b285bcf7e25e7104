"""Reading rooms: single events, state, members, /messages and /context.

Access, per the spec's endpoint descriptions:

- state and members: current members see the current state; former members
  (left or banned) see the state at the moment they left, until they
  forget the room; anyone sees a ``world_readable`` room's current state;
  others get 403;
- events (/event, /messages, /context) pass through history visibility
  (``visibility.py``); an event the user may not see is "not found".

Pagination tokens are ``RoomPosition`` gaps in topological order (see
``EventStore.get_room_events_topological``): ``t<depth>-<stream>`` is the
gap just before the event with that key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.core.errors import Forbidden, InvalidParam, NotFound
from homeserver.core.events import StateKey
from homeserver.core.tokens import InvalidToken, RoomPosition
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.services.rooms.cache import RoomCache, RoomSnapshot
from homeserver.services.rooms.filters import RoomEventFilter
from homeserver.services.rooms.format import client_event
from homeserver.services.rooms.visibility import HISTORY_KEY, HistoryVisibility, VisibleEvent
from homeserver.storage.db import Database
from homeserver.storage.stores.events import EventStore, StoredEvent, TopoKey
from homeserver.storage.stores.state import StateStore

JsonDict = dict[str, Any]

MAX_LIMIT = 1000
#: /messages reads at most this many store pages to fill one response
#: (history visibility or a filter can hide most events).
_MAX_ROUNDS = 5


@dataclass(frozen=True, slots=True)
class RoomAccess:
    snapshot: RoomSnapshot
    #: the user's current membership (None: never a member)
    membership: str | None
    #: the state the user may read (current, or at their leave)
    state: Mapping[StateKey, str]
    #: for a former member who may not read the current state: where they left
    left_at: TopoKey | None = None


def _after(key: TopoKey) -> TopoKey:
    """The gap just after the event with ``key`` (keys are integer pairs)."""
    return (key[0], key[1] + 1)


def _token(key: TopoKey) -> str:
    return RoomPosition(key[0], key[1]).encode()


class RoomReader:
    def __init__(
        self,
        db: Database,
        events: EventStore,
        state: StateStore,
        cache: RoomCache,
        visibility: HistoryVisibility,
        clock: Clock,
    ) -> None:
        self._db = db
        self._events = events
        self._state = state
        self._cache = cache
        self._visibility = visibility
        self._clock = clock
        #: adds ``unsigned["m.relations"]`` to served events (set by the
        #: relations service): ``(requester, events) -> {event_id: bundle}``
        self.bundler: (
            Callable[[Requester, Sequence[StoredEvent]], Awaitable[dict[str, JsonDict]]] | None
        ) = None

    # --- access -------------------------------------------------------------------

    async def _world_readable(self, snapshot: RoomSnapshot) -> bool:
        history = await self._cache.state_pdus(snapshot.state, [HISTORY_KEY])
        event = history.get(HISTORY_KEY)
        return event is not None and event.content.get("history_visibility") == "world_readable"

    async def access(self, requester: Requester, room_id: str) -> RoomAccess:
        """What of the room's state the user may read.

        Raises:
            Forbidden: not a member now or before, and not world readable
                (also for rooms we do not know, as the spec's 403 says).
        """
        snapshot = await self._cache.room(room_id)
        if snapshot is None:
            raise Forbidden("You are not a member of this room")
        membership = snapshot.membership_of(requester.user_id)
        if membership == "join" or await self._world_readable(snapshot):
            return RoomAccess(snapshot, membership, dict(snapshot.state))
        if membership in ("leave", "ban"):
            async with self._db.read() as conn:
                latest = await self._events.membership_event_of(conn, room_id, requester.user_id)
                if latest is not None and latest[2]:
                    # A forgotten room's history is gone for the user (Synapse:
                    # departed users must not have forgotten the room).
                    raise Forbidden("You have forgotten this room")
                stored = await self._events.get_events(conn, [latest[0]]) if latest else {}
                event = stored.get(latest[0]) if latest else None
                if event is not None and event.state_group is not None:
                    state = await self._state.get_state(conn, event.state_group)
                    return RoomAccess(snapshot, membership, state, event.topo_key)
        raise Forbidden("You are not a member of this room")

    # --- serialising -----------------------------------------------------------------

    async def serialize(
        self,
        requester: Requester,
        events: Sequence[StoredEvent | VisibleEvent],
    ) -> list[JsonDict]:
        """Client-format events, served redacted where redacted."""
        stored_list = [e.stored if isinstance(e, VisibleEvent) else e for e in events]
        related: set[str] = set()
        for stored in stored_list:
            if stored.redacted_by is not None:
                related.add(stored.redacted_by)
            replaced = stored.pdu.unsigned.get("replaces_state")
            if isinstance(replaced, str) and stored.redacted_by is None:
                related.add(replaced)
        extra = await self._cache.events(related)
        now = self._clock.time_ms()
        out: list[JsonDict] = []
        for item in events:
            stored = item.stored if isinstance(item, VisibleEvent) else item
            membership = item.membership if isinstance(item, VisibleEvent) else None
            redacted_because = None
            if stored.redacted_by is not None and stored.redacted_by in extra:
                redacted_because = client_event(extra[stored.redacted_by].pdu, now_ms=now)
            replaced = stored.pdu.unsigned.get("replaces_state")
            prev = extra.get(replaced) if isinstance(replaced, str) else None
            own_txn = (
                stored.txn_id
                if stored.txn_id is not None
                and stored.pdu.sender == requester.user_id
                and stored.txn_device_id == (requester.device_id or "")
                else None
            )
            out.append(
                client_event(
                    stored.pdu,
                    now_ms=now,
                    redacted_because=redacted_because,
                    txn_id_for_device=own_txn,
                    membership=membership,
                    prev_event=prev.pdu if prev is not None else None,
                )
            )
        if self.bundler is not None and out:
            bundles = await self.bundler(requester, stored_list)
            for event in out:
                bundle = bundles.get(event["event_id"])
                if bundle:
                    event["unsigned"]["m.relations"] = bundle
        return out

    async def _state_events(self, ids: Iterable[str]) -> list[StoredEvent]:
        found = await self._cache.events(ids)
        return sorted(found.values(), key=lambda e: e.stream_ordering)

    # --- endpoints -----------------------------------------------------------------

    async def get_event(self, requester: Requester, room_id: str, event_id: str) -> JsonDict:
        """One event; NotFound when unknown, in another room or not visible."""
        stored = await self._cache.event(event_id)
        if stored is None or stored.pdu.room_id != room_id:
            raise NotFound("Event not found")
        snapshot = await self._cache.room(room_id)
        joined = snapshot is not None and snapshot.membership_of(requester.user_id) == "join"
        visible = await self._visibility.filter(
            requester.user_id, [stored], currently_joined=joined
        )
        if not visible:
            raise NotFound("Event not found")
        return (await self.serialize(requester, visible))[0]

    async def get_state(self, requester: Requester, room_id: str) -> list[JsonDict]:
        access = await self.access(requester, room_id)
        return await self.serialize(requester, await self._state_events(access.state.values()))

    async def get_state_event(
        self, requester: Requester, room_id: str, event_type: str, state_key: str
    ) -> JsonDict:
        """The full client event of one state entry (callers pick ``content``)."""
        access = await self.access(requester, room_id)
        event_id = access.state.get((event_type, state_key))
        stored = await self._cache.event(event_id) if event_id is not None else None
        if stored is None:
            raise NotFound(f"No {event_type} state with key {state_key!r} in this room")
        return (await self.serialize(requester, [stored]))[0]

    async def get_members(
        self,
        requester: Requester,
        room_id: str,
        *,
        at: str | None = None,
        membership: str | None = None,
        not_membership: str | None = None,
    ) -> list[JsonDict]:
        access = await self.access(requester, room_id)
        state: Mapping[StateKey, str] = access.state
        if at is not None:
            position = self._parse_token(at)
            async with self._db.read() as conn:
                key = await self._topo_key(conn, room_id, position)
            if access.left_at is not None and key > _after(access.left_at):
                # A former member sees the membership up to their leave only.
                state = access.state
            else:
                state = await self._state_at(room_id, key) or {}
        ids = [eid for (t, _), eid in state.items() if t == "m.room.member"]
        members = await self._state_events(ids)
        chosen = [
            m
            for m in members
            if (membership is None or m.pdu.membership == membership)
            and (not_membership is None or m.pdu.membership != not_membership)
        ]
        return await self.serialize(requester, chosen)

    async def get_joined_members(self, requester: Requester, room_id: str) -> JsonDict:
        snapshot = await self._cache.room(room_id)
        if snapshot is None or snapshot.membership_of(requester.user_id) != "join":
            raise Forbidden("You are not a member of this room")
        joined = [u for u, m in snapshot.memberships.items() if m == "join"]
        pdus = await self._cache.state_pdus(snapshot.state, [("m.room.member", u) for u in joined])
        out: JsonDict = {}
        for (_, user_id), pdu in pdus.items():
            # Both keys are always there, null when unset (as Synapse answers).
            profile: JsonDict = {}
            for src, dst in (("displayname", "display_name"), ("avatar_url", "avatar_url")):
                value = pdu.content.get(src)
                profile[dst] = value if isinstance(value, str) else None
            out[user_id] = profile
        return {"joined": out}

    async def _state_at(self, room_id: str, key: TopoKey) -> dict[StateKey, str] | None:
        """The state after the last event before the gap ``key``."""
        async with self._db.read() as conn:
            page = await self._events.get_room_events_topological(
                conn, room_id, from_key=key, backwards=True, limit=1
            )
            if not page or page[0].state_group is None:
                return None
            return await self._state.get_state(conn, page[0].state_group)

    def _parse_token(self, token: str) -> RoomPosition:
        try:
            return RoomPosition.parse(token)
        except InvalidToken as e:
            raise InvalidParam(f"Invalid pagination token: {e}") from e

    async def _topo_key(self, conn: Any, room_id: str, position: RoomPosition) -> TopoKey:
        """The topological gap a token names (stream tokens from /sync are
        mapped to the gap after the last event before that stream position)."""
        if position.depth is not None:
            return (position.depth, position.stream)
        newest = await self._events.max_topo_key(conn, room_id, below_stream=position.stream + 1)
        return (newest[0], newest[1] + 1) if newest is not None else (0, 0)

    async def messages(
        self,
        requester: Requester,
        room_id: str,
        *,
        from_token: str | None,
        to_token: str | None,
        backwards: bool,
        limit: int,
        event_filter: RoomEventFilter,
    ) -> JsonDict:
        """``GET /messages``: a page of history the user may see."""
        access = await self.access(requester, room_id)
        joined = access.membership == "join"
        # A departed member reads shared history up to their leave.
        shared_until = access.left_at[1] if access.left_at is not None else None
        limit = max(1, min(limit, event_filter.limit or limit, MAX_LIMIT))
        async with self._db.read() as conn:
            if from_token is not None:
                start = self._parse_token(from_token)
                from_key = await self._topo_key(conn, room_id, start)
            elif backwards:
                newest = await self._events.max_topo_key(conn, room_id)
                from_key = (newest[0], newest[1] + 1) if newest else (0, 0)
            else:
                from_key = (0, 0)
            to_key = None
            if to_token is not None:
                to_key = await self._topo_key(conn, room_id, self._parse_token(to_token))
        start_token = from_token or _token(from_key)

        chunk: list[VisibleEvent] = []
        cursor = from_key
        exhausted = False
        #: some event of the range passed the filter (visible or not)
        matched = False
        for _ in range(_MAX_ROUNDS):
            page_size = limit + 1 if not chunk else limit * 2
            async with self._db.read() as conn:
                page = await self._events.get_room_events_topological(
                    conn,
                    room_id,
                    from_key=cursor,
                    backwards=backwards,
                    limit=page_size,
                    to_key=to_key,
                )
            exhausted = len(page) < page_size
            wanted = [e for e in page if event_filter.matches(e.pdu)]
            matched = matched or bool(wanted)
            visible = await self._visibility.filter(
                requester.user_id, wanted, currently_joined=joined, shared_until=shared_until
            )
            visible_by_id = {v.stored.pdu.event_id: v for v in visible}
            for index, stored in enumerate(page):
                # The cursor always sits just past the last event looked at.
                cursor = stored.topo_key if backwards else _after(stored.topo_key)
                found = visible_by_id.get(stored.pdu.event_id)
                if found is not None:
                    chunk.append(found)
                if len(chunk) >= limit:
                    if index < len(page) - 1:
                        exhausted = False
                    break
            if exhausted or len(chunk) >= limit:
                break
        # Synapse leaves ``end`` out only when the range held no event the
        # filter matches; a last page with events still has one, and the
        # request after it comes back empty and without ``end``.
        return await self._messages_response(
            requester, start_token, chunk, cursor, exhausted and not matched, event_filter
        )

    async def _messages_response(
        self,
        requester: Requester,
        start_token: str,
        chunk: list[VisibleEvent],
        cursor: TopoKey,
        done: bool,
        event_filter: RoomEventFilter,
    ) -> JsonDict:
        body: JsonDict = {"start": start_token, "chunk": await self.serialize(requester, chunk)}
        if not done:
            body["end"] = _token(cursor)
        if event_filter.lazy_load_members and chunk:
            body["state"] = await self._members_for(requester, chunk)
        return body

    async def _members_for(
        self, requester: Requester, chunk: Sequence[VisibleEvent]
    ) -> list[JsonDict]:
        """Member events of the chunk's senders, at the chunk's first event."""
        group = next((e.stored.state_group for e in chunk if e.stored.state_group), None)
        if group is None:
            return []
        senders = {e.stored.pdu.sender for e in chunk}
        async with self._db.read() as conn:
            ids = await self._state.get_state_keys(
                conn, group, [("m.room.member", s) for s in sorted(senders)]
            )
        return await self.serialize(requester, await self._state_events(ids.values()))

    async def context(
        self,
        requester: Requester,
        room_id: str,
        event_id: str,
        *,
        limit: int,
        event_filter: RoomEventFilter,
    ) -> JsonDict:
        """``GET /context/{eventId}``: the event, some before and after, and state."""
        stored = await self._cache.event(event_id)
        if stored is None or stored.pdu.room_id != room_id:
            raise NotFound("Event not found")
        snapshot = await self._cache.room(room_id)
        joined = snapshot is not None and snapshot.membership_of(requester.user_id) == "join"
        target = await self._visibility.filter(requester.user_id, [stored], currently_joined=joined)
        if not target:
            raise NotFound("Event not found")
        limit = max(0, min(limit, MAX_LIMIT))
        before_limit = limit // 2
        after_limit = limit - before_limit
        key = stored.topo_key
        async with self._db.read() as conn:
            before = await self._events.get_room_events_topological(
                conn, room_id, from_key=key, backwards=True, limit=before_limit
            )
            after = await self._events.get_room_events_topological(
                conn, room_id, from_key=_after(key), backwards=False, limit=after_limit
            )
            state_ids = (
                await self._state.get_state(conn, stored.state_group) if stored.state_group else {}
            )
        before_visible = await self._visibility.filter(
            requester.user_id,
            [e for e in before if event_filter.matches(e.pdu)],
            currently_joined=joined,
        )
        after_visible = await self._visibility.filter(
            requester.user_id,
            [e for e in after if event_filter.matches(e.pdu)],
            currently_joined=joined,
        )
        start_key = before[-1].topo_key if before else key
        end_key = after[-1].topo_key if after else key
        if event_filter.lazy_load_members:
            senders = {e.stored.pdu.sender for e in (*before_visible, *target, *after_visible)}
            state_ids = {
                k: v for k, v in state_ids.items() if k[0] != "m.room.member" or k[1] in senders
            }
        return {
            "event": (await self.serialize(requester, target))[0],
            "events_before": await self.serialize(requester, before_visible),
            "events_after": await self.serialize(requester, after_visible),
            "start": _token(start_key),
            "end": _token(_after(end_key)),
            "state": await self.serialize(requester, await self._state_events(state_ids.values())),
        }
