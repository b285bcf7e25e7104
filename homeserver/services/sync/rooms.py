"""The ``rooms`` sections of a sync: ``join``, ``invite``, ``knock``, ``leave``.

Rooms are sorted by what happened to the user's membership (one query:
their latest membership per room as of the token's room position). Joined
rooms' timelines are read in one batched query; current state comes from
the room cache; rooms where nothing moved since the token are skipped
without touching the database (the notifier knows which rooms changed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeserver.core.events import PDU, StateKey
from homeserver.core.tokens import StreamToken
from homeserver.notifier import Notifier
from homeserver.services.filters import Filter
from homeserver.services.requester import Requester
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.rooms.read import RoomReader
from homeserver.services.rooms.visibility import HistoryVisibility
from homeserver.services.sync.ephemeral import filter_ephemeral, receipt_events, typing_event
from homeserver.services.sync.state import (
    filter_state,
    full_state_ids,
    last_per_key,
    lazy_members,
)
from homeserver.services.sync.summary import room_summary
from homeserver.services.sync.timeline import (
    Timeline,
    cut_timeline,
    serialize_events,
    visible_timeline,
)
from homeserver.services.sync.typing import TypingService
from homeserver.storage.db import Database
from homeserver.storage.stores.account_data import AccountDataChange
from homeserver.storage.stores.events import StoredEvent
from homeserver.storage.stores.receipts import ReceiptStore
from homeserver.storage.stores.state import StateStore
from homeserver.storage.stores.sync import MembershipAt, SyncStore

JsonDict = dict[str, Any]

#: ``(user_id, room_id) → (notification_count, highlight_count)``; a push
#: rules implementation replaces the default, which counts nothing.
PushCounts = Callable[[str, str], Awaitable[tuple[int, int]]]


async def no_push_counts(user_id: str, room_id: str) -> tuple[int, int]:
    del user_id, room_id
    return 0, 0


@dataclass(slots=True)
class RoomsRequest:
    requester: Requester
    since: StreamToken | None
    now: StreamToken
    filter: Filter
    full_state: bool
    #: changed room account data by room (already filtered by stream range)
    room_account_data: Mapping[str, list[AccountDataChange]] = field(default_factory=dict)


@dataclass(slots=True)
class RoomsResult:
    join: dict[str, JsonDict] = field(default_factory=dict)
    invite: dict[str, JsonDict] = field(default_factory=dict)
    knock: dict[str, JsonDict] = field(default_factory=dict)
    leave: dict[str, JsonDict] = field(default_factory=dict)
    #: joined and invited rooms (what a long-poll waits on)
    watched: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.join or self.invite or self.knock or self.leave)

    def to_json(self) -> JsonDict:
        return {"join": self.join, "invite": self.invite, "knock": self.knock, "leave": self.leave}


def _stripped(pdu: PDU) -> JsonDict:
    return {
        "type": pdu.type,
        "state_key": pdu.state_key,
        "sender": pdu.sender,
        "content": pdu.content,
    }


class RoomSections:
    """Builds the four room sections of one sync response."""

    def __init__(
        self,
        db: Database,
        cache: RoomCache,
        reader: RoomReader,
        state_store: StateStore,
        notifier: Notifier,
        typing: TypingService,
        receipts: ReceiptStore,
        push_counts: PushCounts = no_push_counts,
        sync_store: SyncStore | None = None,
    ) -> None:
        self._db = db
        self._cache = cache
        self._reader = reader
        self._state = state_store
        self._notifier = notifier
        self._typing = typing
        self._receipts = receipts
        self._sync = sync_store or SyncStore()
        self._visibility = HistoryVisibility(db, state_store, cache)
        self.push_counts = push_counts

    async def memberships(self, user_id: str, upto: int) -> list[MembershipAt]:
        async with self._db.read() as conn:
            return await self._sync.memberships_at(conn, user_id, upto)

    async def build(self, req: RoomsRequest, memberships: Sequence[MembershipAt]) -> RoomsResult:
        room_filter = req.filter.room
        since_room = req.since.room if req.since is not None else 0
        initial = req.since is None
        result = RoomsResult()
        joined: list[MembershipAt] = []
        for m in memberships:
            if m.membership in ("join", "invite"):
                result.watched.append(m.room_id)
            if m.membership == "join":
                result.joined.append(m.room_id)
            if not room_filter.allows_room(m.room_id):
                continue
            changed = m.stream_ordering > since_room
            if m.membership == "join":
                joined.append(m)
            elif m.membership == "invite" and (initial or changed):
                result.invite[m.room_id] = await self._invite(m, "invite_room_state")
            elif m.membership == "knock" and (initial or changed):
                result.knock[m.room_id] = await self._invite(m, "knock_room_state")
            elif (
                m.membership in ("leave", "ban")
                and not m.forgotten
                and ((initial and room_filter.include_leave) or (not initial and changed))
            ):
                # A rejected invite also ends up here, so the client drops it.
                result.leave[m.room_id] = await self._left_room(req, m)
        await self._joined_rooms(req, joined, result)
        return result

    async def _invite(self, m: MembershipAt, key: str) -> JsonDict:
        stored = await self._cache.event(m.event_id)
        events: list[JsonDict] = []
        if stored is not None:
            carried = stored.pdu.unsigned.get(key)
            if isinstance(carried, list):
                events = [e for e in carried if isinstance(e, dict)]
            events = [
                e
                for e in events
                if not (e.get("type") == "m.room.member" and e.get("state_key") == m.room_id)
            ]
            events.append(_stripped(stored.pdu))
        section = "invite_state" if key == "invite_room_state" else "knock_state"
        return {section: {"events": events}}

    async def _joined_rooms(
        self, req: RoomsRequest, joined: Sequence[MembershipAt], result: RoomsResult
    ) -> None:
        if not joined:
            return
        since = req.since
        now = req.now
        limit = req.filter.timeline_limit
        room_ids = [m.room_id for m in joined]
        # Which rooms need a timeline read: all on initial/full_state,
        # otherwise those the notifier saw change (confirmed in the table).
        if since is None or req.full_state:
            timeline_rooms = set(room_ids)
            newly = set(room_ids)
        else:
            newly = {m.room_id for m in joined if m.stream_ordering > since.room}
            timeline_rooms = set()
            if now.room > since.room:
                candidates = self._notifier.rooms_changed_since("room", since.room, room_ids)
                if candidates:
                    async with self._db.read() as conn:
                        timeline_rooms = await self._sync.rooms_with_events(
                            conn, sorted(candidates), since.room, now.room
                        )
            timeline_rooms |= newly
        after = 0 if since is None else since.room
        bounds = [(r, after, now.room) for r in sorted(timeline_rooms)]
        raw: dict[str, list[StoredEvent]] = {}
        if bounds and limit > 0:
            async with self._db.read() as conn:
                raw = await self._sync.recent_events(conn, bounds, limit + 1)
        typing_changed = {
            r for r in room_ids if since is None or self._typing.changed_since(r, since.typing)
        }
        receipts = await self._receipts_for(req, room_ids)
        incremental = since is not None and not req.full_state
        for m in joined:
            room_id = m.room_id
            if (
                incremental
                and room_id not in timeline_rooms
                and room_id not in typing_changed
                and room_id not in receipts
                and room_id not in req.room_account_data
            ):
                # Nothing of this room moved since the token: skip it without
                # touching its state (keeps an idle incremental sync O(changes)).
                continue
            body = await self._joined_room(
                req,
                room_id,
                raw.get(room_id, []) if room_id in timeline_rooms else None,
                full=room_id in newly,
                typing=room_id in typing_changed,
                receipt=receipts.get(room_id),
            )
            if body is not None:
                result.join[room_id] = body

    async def _receipts_for(
        self, req: RoomsRequest, room_ids: Sequence[str]
    ) -> dict[str, JsonDict]:
        since = req.since.receipts if req.since is not None else 0
        if req.now.receipts <= since:
            return {}
        rooms = room_ids
        if req.since is not None:
            rooms = sorted(self._notifier.rooms_changed_since("receipts", since, room_ids))
        if not rooms:
            return {}
        async with self._db.read() as conn:
            rows = await self._receipts.changes_in_rooms(
                conn, rooms, since=since, upto=req.now.receipts
            )
        return receipt_events(rows, req.requester.user_id)

    async def _joined_room(
        self,
        req: RoomsRequest,
        room_id: str,
        raw: list[StoredEvent] | None,
        *,
        full: bool,
        typing: bool,
        receipt: JsonDict | None,
    ) -> JsonDict | None:
        user_id = req.requester.user_id
        flt = req.filter
        room_filter = flt.room
        limit = flt.timeline_limit
        timeline = cut_timeline(raw or [], limit, req.now.room)
        timeline, visible = await visible_timeline(
            self._visibility, user_id, timeline, room_filter.timeline, currently_joined=True
        )
        snapshot = await self._cache.room(room_id)
        current: Mapping[StateKey, str] = dict(snapshot.state) if snapshot is not None else {}
        state_events = await self._state_block(req, room_id, timeline, current, full=full)
        ephemeral: list[JsonDict] = []
        if typing:
            users = self._typing.typing_users(room_id)
            if users or req.since is not None:
                ephemeral.append(typing_event(users))
        if receipt is not None:
            ephemeral.append(receipt)
        ephemeral = filter_ephemeral(ephemeral, room_filter.ephemeral, room_id)
        account_data = [
            {"type": c.type, "content": c.content}
            for c in req.room_account_data.get(room_id, [])
            if room_filter.account_data.allows(c.type, user_id, room_id)
        ]
        if (
            req.since is not None
            and not full
            and not timeline.events
            and not state_events
            and not ephemeral
            and not account_data
        ):
            return None
        fields = flt.event_fields
        body: JsonDict = {
            "timeline": timeline.to_json(
                await serialize_events(self._reader, req.requester, visible, fields)
            ),
            "state": {
                "events": await serialize_events(self._reader, req.requester, state_events, fields)
            },
            "ephemeral": {"events": ephemeral},
            "account_data": {"events": account_data},
        }
        notifications, highlights = await self.push_counts(user_id, room_id)
        body["unread_notifications"] = {
            "notification_count": notifications,
            "highlight_count": highlights,
        }
        if room_filter.timeline.unread_thread_notifications:
            body["unread_thread_notifications"] = {}
        members_changed = full or any(
            e.pdu.type == "m.room.member" for e in [*timeline.events, *state_events]
        )
        if members_changed and snapshot is not None:
            body["summary"] = room_summary(snapshot.memberships, user_id)
        else:
            body["summary"] = {}
        return body

    async def _state_block(
        self,
        req: RoomsRequest,
        room_id: str,
        timeline: Timeline,
        current: Mapping[StateKey, str],
        *,
        full: bool,
    ) -> list[StoredEvent]:
        state_filter = req.filter.room.state
        lazy = state_filter.lazy_load_members
        if req.since is None or full:
            ids = full_state_ids(current, timeline.events)
            if lazy:
                ids = lazy_members(ids, timeline.events, req.requester.user_id, current)
            found = await self._cache.events(ids.values())
            return filter_state(found.values(), state_filter)
        events: list[StoredEvent] = []
        if timeline.limited and timeline.events:
            async with self._db.read() as conn:
                gap = await self._sync.state_event_ids_between(
                    conn, room_id, req.since.room, timeline.events[0].stream_ordering
                )
            found = await self._cache.events(gap)
            events = last_per_key([found[e] for e in gap if e in found])
        if lazy and timeline.events:
            ids = {e.pdu.state_tuple: e.pdu.event_id for e in events}
            ids = lazy_members(ids, timeline.events, req.requester.user_id, current)
            found = await self._cache.events(ids.values())
            events = list(found.values())
        return filter_state(events, state_filter)

    async def _left_room(self, req: RoomsRequest, m: MembershipAt) -> JsonDict:
        limit = req.filter.timeline_limit
        after = req.since.room if req.since is not None else 0
        upto = m.stream_ordering
        raw: dict[str, list[StoredEvent]] = {}
        if limit > 0:
            async with self._db.read() as conn:
                raw = await self._sync.recent_events(conn, [(m.room_id, after, upto)], limit + 1)
        timeline = cut_timeline(raw.get(m.room_id, []), limit, upto)
        timeline, visible = await visible_timeline(
            self._visibility,
            req.requester.user_id,
            timeline,
            req.filter.room.timeline,
            currently_joined=False,
        )
        fields = req.filter.event_fields
        state: list[StoredEvent] = []
        if req.since is None:
            leave = await self._cache.event(m.event_id)
            if leave is not None and leave.state_group is not None:
                async with self._db.read() as conn:
                    at_leave = await self._state.get_state(conn, leave.state_group)
                ids = full_state_ids(at_leave, timeline.events)
                found = await self._cache.events(ids.values())
                state = filter_state(found.values(), req.filter.room.state)
        return {
            "timeline": timeline.to_json(
                await serialize_events(self._reader, req.requester, visible, fields)
            ),
            "state": {"events": await serialize_events(self._reader, req.requester, state, fields)},
            "account_data": {"events": []},
        }
