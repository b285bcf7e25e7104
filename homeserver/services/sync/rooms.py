"""The ``rooms`` sections of a sync: ``join``, ``invite``, ``knock``, ``leave``.

Rooms are sorted by what happened to the user's membership (one query:
their latest membership per room as of the token's room position, kept
between requests by ``memberships.MembershipCache``). Joined rooms'
timelines are read in one batched query of event ids, the events coming
from the event cache; current state comes from the room cache; rooms where
nothing moved since the token are skipped without touching the database
(the notifier knows which rooms changed).

One message wakes every member's long-poll at once, and they all need the
same room range: timeline ids and membership changes (device lists) per
``(room, since, now)`` are shared between them (``shared.SharedReads``),
and every room's events are serialised in one call, so bundled
aggregations cost one read for the whole response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from homeserver.core.events import PDU, StateKey
from homeserver.core.tokens import RoomPosition, StreamToken
from homeserver.notifier import Notifier
from homeserver.services.clock import Clock, SystemClock
from homeserver.services.filters import EventFilter, Filter
from homeserver.services.requester import Requester
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.rooms.invite_permission import invites_blocked
from homeserver.services.rooms.read import RoomReader
from homeserver.services.rooms.visibility import HistoryVisibility
from homeserver.services.sync.ephemeral import filter_ephemeral, receipt_events, typing_event
from homeserver.services.sync.lazy_members import SentMembers
from homeserver.services.sync.memberships import MembershipCache
from homeserver.services.sync.shared import SharedReads
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
from homeserver.storage.stores.account_data import AccountDataChange, AccountDataStore
from homeserver.storage.stores.events import StoredEvent
from homeserver.storage.stores.push import MAIN_THREAD
from homeserver.storage.stores.receipts import ReceiptStore
from homeserver.storage.stores.state import StateStore
from homeserver.storage.stores.sync import MembershipAt, SyncStore

JsonDict = dict[str, Any]

#: ``(user_id, room_ids, upto) → {room_id: (notification_count, highlight_count)}``
#: counting up to room position ``upto`` (None: everything); the push service
#: replaces the default, which counts nothing.
PushCountsMany = Callable[[str, Sequence[str], int | None], Awaitable[dict[str, tuple[int, int]]]]
#: ``(user_id, room_ids, upto) → {room_id: {thread_id: counts}}`` (``main`` =
#: the main timeline; rooms with nothing unread may be left out).
ThreadCountsMany = Callable[
    [str, Sequence[str], int | None], Awaitable[dict[str, dict[str, tuple[int, int]]]]
]

#: ``(room_id, after, upto, limit)`` of a shared timeline read
_RangeKey = tuple[str, int, int, int]
#: ``(room_id, after, upto)`` of a shared membership-change read
_MovesKey = tuple[str, int, int]
#: ``(stream_ordering, user_id, membership)``
_Move = tuple[int, str, str]
#: timeline reads of more events than this are not shared
_MAX_SHARED_EVENTS = 101
#: shared reads kept: timeline ranges and membership-change ranges
_SHARED_ENTRIES = 1024
#: how long a shared read is kept at most (retention purges move no stream)
_SHARED_TTL_MS = 30_000

#: further reads back when a timeline filter drops events, at most
_PAGE_ROUNDS = 4
#: events per further read, at most
_MAX_PAGE = 500


async def no_push_counts(
    user_id: str, room_ids: Sequence[str], upto: int | None
) -> dict[str, tuple[int, int]]:
    del user_id, upto
    return dict.fromkeys(room_ids, (0, 0))


async def no_thread_counts(
    user_id: str, room_ids: Sequence[str], upto: int | None
) -> dict[str, dict[str, tuple[int, int]]]:
    del user_id, room_ids, upto
    return {}


@dataclass(frozen=True, slots=True)
class _Raw:
    """Events read for a timeline, oldest first."""

    events: list[StoredEvent]
    #: no event of the range precedes ``events``
    exhausted: bool


@dataclass(frozen=True, slots=True)
class _Unserialized:
    """A joined room's body whose timeline and state events are still to be
    serialised (all rooms' together)."""

    body: JsonDict
    timeline: list[Any]
    state: list[StoredEvent]


@dataclass(slots=True)
class RoomsRequest:
    requester: Requester
    since: StreamToken | None
    now: StreamToken
    filter: Filter
    full_state: bool
    #: MSC4222 / v1.16: ``state_after`` (state at the END of the timeline)
    use_state_after: bool = False
    #: changed room account data by room (already filtered by stream range)
    room_account_data: Mapping[str, list[AccountDataChange]] = field(default_factory=dict)
    #: the room stream position everything below has committed at (``now``
    #: may be ahead of it, for a token from before a restore); None: unknown
    committed_room: int | None = None


def _count_upto(req: RoomsRequest) -> int | None:
    """The position unread counts are taken up to: the token's, unless it is
    ahead of what has committed (then counts are not remembered)."""
    if req.committed_room is None or req.now.room > req.committed_room:
        return None
    return req.now.room


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
        sync_store: SyncStore | None = None,
        clock: Clock | None = None,
        membership_cache: MembershipCache | None = None,
        account_data: AccountDataStore | None = None,
    ) -> None:
        """Builds the sections.

        Args:
            membership_cache: remembers memberships between requests; whoever
                passes one registers its ``in_transaction`` with the persister.
        """
        self._db = db
        self._cache = cache
        self._reader = reader
        self._state = state_store
        self._notifier = notifier
        self._typing = typing
        self._receipts = receipts
        self._sync = sync_store or SyncStore()
        self._account_data = account_data or AccountDataStore()
        self._visibility = HistoryVisibility(db, state_store, cache)
        self._membership_cache = membership_cache
        clock = clock or SystemClock()
        #: room range → its newest event ids (the waiters of one room share them)
        self._shared_ranges: SharedReads[_RangeKey, tuple[str, ...]] = SharedReads(
            clock, max_entries=_SHARED_ENTRIES, ttl_ms=_SHARED_TTL_MS
        )
        #: ``(room_id, after, upto)`` → its membership changes (device lists)
        self._shared_moves: SharedReads[_MovesKey, tuple[_Move, ...]] = SharedReads(
            clock, max_entries=_SHARED_ENTRIES, ttl_ms=_SHARED_TTL_MS
        )
        #: unread counts of many rooms (set by the push service)
        self.push_counts_many: PushCountsMany = no_push_counts
        self.thread_counts_many: ThreadCountsMany = no_thread_counts
        #: member events each device already received (lazy loading)
        self.sent_members = SentMembers()

    async def memberships(self, user_id: str, upto: int) -> list[MembershipAt]:
        """The user's latest membership per room at position ``upto``."""
        cache = self._membership_cache
        if cache is not None:
            known = cache.get(user_id, upto)
            if known is not None:
                return known
        async with self._db.read() as conn:
            memberships = await self._sync.memberships_at(conn, user_id, upto)
        if cache is not None:
            cache.put(user_id, upto, memberships)
        return memberships

    async def build(self, req: RoomsRequest, memberships: Sequence[MembershipAt]) -> RoomsResult:
        room_filter = req.filter.room
        since_room = req.since.room if req.since is not None else 0
        initial = req.since is None
        if initial or req.full_state:
            # The client starts over: whatever it got before is gone.
            self.sent_members.reset(req.requester.user_id, req.requester.device_id or "")
        result = RoomsResult()
        joined: list[MembershipAt] = []
        #: read only when there is an invite to show
        ignored: frozenset[str] | None = None
        #: invite blocking (spec v1.18): no invite is shown at all
        blocked = False
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
                if ignored is None:
                    ignored = await self._ignored_users(req.requester.user_id)
                    blocked = await invites_blocked(self._db, req.requester.user_id)
                invite = None if blocked else await self._invite(m, "invite_room_state", ignored)
                if invite is not None:
                    result.invite[m.room_id] = invite
            elif m.membership == "knock" and (initial or changed):
                knock = await self._invite(m, "knock_room_state")
                if knock is not None:
                    result.knock[m.room_id] = knock
            elif m.membership in ("leave", "ban") and (
                (initial and room_filter.include_leave and not m.forgotten)
                or (not initial and changed)
            ):
                # A rejected invite also ends up here, so the client drops it.
                # A leave forgotten since still shows in an incremental sync
                # (Synapse, Complement): other devices must learn of it.
                result.leave[m.room_id] = await self._left_room(req, m)
        await self._joined_rooms(req, joined, result)
        return result

    async def _ignored_users(self, user_id: str) -> frozenset[str]:
        """The users in the user's ``m.ignored_user_list``."""
        async with self._db.read() as conn:
            content = await self._account_data.get(conn, user_id, None, "m.ignored_user_list")
        listed = content.get("ignored_users") if content is not None else None
        return frozenset(listed) if isinstance(listed, dict) else frozenset()

    async def _invite(
        self, m: MembershipAt, key: str, ignored: frozenset[str] = frozenset()
    ) -> JsonDict | None:
        """The room's ``invite``/``knock`` entry; None for an invite from an
        ignored user (the spec: servers must not send those to clients)."""
        stored = await self._cache.event(m.event_id)
        events: list[JsonDict] = []
        if stored is not None and stored.pdu.sender in ignored:
            return None
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
        after = 0 if since is None else since.room
        if since is None or req.full_state:
            timeline_rooms = set(room_ids)
            newly = set(room_ids)
            raw = await self._read_timelines(
                [(r, after, now.room) for r in sorted(timeline_rooms)],
                limit,
                req.filter.room.timeline,
            )
        else:
            newly = {m.room_id for m in joined if m.stream_ordering > since.room}
            candidates: set[str] = set()
            if now.room > since.room:
                candidates = self._notifier.rooms_changed_since("room", since.room, room_ids)
            timeline_rooms, raw = await self._changed_timelines(
                sorted(candidates | newly), after, now.room, limit, req.filter.room.timeline
            )
            timeline_rooms |= newly
        typing_changed = {
            r for r in room_ids if since is None or self._typing.changed_since(r, since.typing)
        }
        receipts = await self._receipts_for(req, room_ids)
        incremental = since is not None and not req.full_state
        built: list[_Unserialized] = []
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
            room = await self._joined_room(
                req,
                room_id,
                raw.get(room_id) if room_id in timeline_rooms else None,
                full=room_id in newly,
                typing=room_id in typing_changed,
                receipt=receipts.get(room_id),
            )
            if room is not None:
                built.append(room)
                result.join[room_id] = room.body
        await self._serialize_into(req, built)
        await self._add_counts(req, result.join)

    async def _changed_timelines(
        self,
        candidates: Sequence[str],
        after: int,
        upto: int,
        limit: int,
        event_filter: EventFilter,
    ) -> tuple[set[str], dict[str, _Raw]]:
        """The rooms among ``candidates`` with events in ``(after, upto]``, and
        their timeline reads (one read answers both)."""
        if not candidates:
            return set(), {}
        if limit <= 0:
            async with self._db.read() as conn:
                changed = await self._sync.rooms_with_events(conn, candidates, after, upto)
            return changed, {}
        raw = await self._read_timelines(
            [(r, after, upto) for r in candidates], limit, event_filter
        )
        return {r for r, t in raw.items() if t.events}, raw

    async def _read_timelines(
        self,
        bounds: Sequence[tuple[str, int, int]],
        limit: int,
        event_filter: EventFilter,
    ) -> dict[str, _Raw]:
        """The newest events per room: ``limit + 1``, then, when the filter
        drops some, further pages back until ``limit`` match or history (the
        range) ends, at most :data:`_PAGE_ROUNDS` more reads."""
        if not bounds or limit <= 0:
            return {}
        first = await self._recent_events(bounds, limit + 1)
        out = {r: _Raw(events, len(events) <= limit) for r, events in first.items()}
        if not _narrows(event_filter):
            return out
        async with self._db.read() as conn:
            page = min(max(limit * 4, 50), _MAX_PAGE)
            after_of = {r: a for r, a, _ in bounds}
            for _ in range(_PAGE_ROUNDS):
                short = [
                    (r, after_of[r], t.events[0].stream_ordering - 1)
                    for r, t in out.items()
                    if not t.exhausted
                    and t.events
                    and sum(1 for e in t.events if event_filter.allows_pdu(e.pdu)) < limit
                ]
                if not short:
                    break
                more = await self._sync.recent_events(conn, short, page + 1)
                for room_id, _, _ in short:
                    older = more.get(room_id, [])
                    out[room_id] = _Raw(older + out[room_id].events, len(older) <= page)
        return out

    async def _recent_events(
        self, bounds: Sequence[tuple[str, int, int]], n: int
    ) -> dict[str, list[StoredEvent]]:
        """``SyncStore.recent_events``: the ids from the database, the events
        from the event cache (recent events are mostly there already). The
        ids of a range are shared by the requests that need it: every waiter
        of a room wakes for the same event."""

        async def load(keys: list[_RangeKey]) -> dict[_RangeKey, tuple[str, ...]]:
            async with self._db.read() as conn:
                got = await self._sync.recent_event_ids(conn, [k[:3] for k in keys], n)
            return {k: tuple(got[k[0]]) for k in keys}

        keys = [(room_id, after, upto, n) for room_id, after, upto in bounds]
        if n > _MAX_SHARED_EVENTS:
            ids = await load(keys)
        else:
            ids = await self._shared_ranges.get_many(keys, load)
        found = await self._cache.events(e for k in keys for e in ids[k])
        # An event purged meanwhile (retention) is left out, as a read would.
        return {k[0]: [found[e] for e in ids[k] if e in found] for k in keys}

    async def _add_counts(self, req: RoomsRequest, join: dict[str, JsonDict]) -> None:
        """Unread counts of every returned joined room, in one batched read."""
        if not join:
            return
        user_id = req.requester.user_id
        room_ids = sorted(join)
        if not req.filter.room.timeline.unread_thread_notifications:
            counts = await self.push_counts_many(user_id, room_ids, _count_upto(req))
            for room_id, body in join.items():
                n, h = counts.get(room_id, (0, 0))
                body["unread_notifications"] = {"notification_count": n, "highlight_count": h}
            return
        # Threaded notifications: ``unread_notifications`` counts the main
        # timeline only, each thread has its own entry (spec v1.4).
        per_room = await self.thread_counts_many(user_id, room_ids, _count_upto(req))
        for room_id, body in join.items():
            threads = dict(per_room.get(room_id, {}))
            n, h = threads.pop(MAIN_THREAD, (0, 0))
            body["unread_notifications"] = {"notification_count": n, "highlight_count": h}
            # Left out when no thread has unread notifications, as Synapse does
            # (clients, and Complement, read its absence as "nothing unread").
            if threads:
                body["unread_thread_notifications"] = {
                    root: {"notification_count": tn, "highlight_count": th}
                    for root, (tn, th) in threads.items()
                }

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
        raw: _Raw | None,
        *,
        full: bool,
        typing: bool,
        receipt: JsonDict | None,
    ) -> _Unserialized | None:
        user_id = req.requester.user_id
        flt = req.filter
        room_filter = flt.room
        limit = flt.timeline_limit
        timeline = cut_timeline(
            raw.events if raw is not None else [],
            limit,
            req.now.room,
            room_filter.timeline,
            exhausted=raw.exhausted if raw is not None else True,
        )
        timeline, visible = await visible_timeline(
            self._visibility, user_id, timeline, room_filter.timeline, currently_joined=True
        )
        snapshot = await self._cache.room(room_id)
        current: Mapping[StateKey, str] = dict(snapshot.state) if snapshot is not None else {}
        current_group = snapshot.state_group if snapshot is not None else None
        if req.since is None and not timeline.limited and timeline.exhausted and timeline.events:
            # The whole room fits: nothing earlier to fetch. Synapse then hands
            # out the sync's own position as ``prev_batch``, and clients read
            # ``/members?at=`` with it (Complement's TestGetRoomMembersAtPoint).
            timeline = replace(timeline, prev_batch=RoomPosition(None, req.now.room).encode())
        if full and req.since is not None and not req.full_state and limit > 0:
            # A room joined since the token: what came before the token is new
            # to the client too, so the timeline is always ``limited`` (as
            # Synapse marks it) and the client fetches older history from
            # ``prev_batch``; events it may have seen before a leave are not
            # sent again.
            timeline = replace(timeline, limited=True)
        after = req.since.room if req.since is not None else 0
        if req.use_state_after:
            state_events = await self._state_after(
                req, room_id, timeline, current, full=full, changed=raw is not None, after=after
            )
        else:
            state_events = await self._state_block(
                req, room_id, timeline, current, current_group, full=full, after=after
            )
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
        self._remember_members(req, room_id, [*timeline.events, *state_events])
        state_key = "state_after" if req.use_state_after else "state"
        body: JsonDict = {
            "timeline": timeline.to_json([]),
            state_key: {"events": []},
            "ephemeral": {"events": ephemeral},
            "account_data": {"events": account_data},
        }
        members_changed = full or any(
            e.pdu.type == "m.room.member" for e in [*timeline.events, *state_events]
        )
        if members_changed and snapshot is not None:
            body["summary"] = room_summary(snapshot.memberships, user_id)
        else:
            body["summary"] = {}
        return _Unserialized(body, visible, state_events)

    async def _serialize_into(self, req: RoomsRequest, rooms: Sequence[_Unserialized]) -> None:
        """Serialises the events of every room in one go (one bundled
        aggregations read for all of them) and puts them in the bodies."""
        events = [e for room in rooms for e in (*room.timeline, *room.state)]
        if not events:
            return
        served = await serialize_events(
            self._reader, req.requester, events, req.filter.event_fields
        )
        state_key = "state_after" if req.use_state_after else "state"
        at = 0
        for room in rooms:
            room.body["timeline"]["events"] = served[at : at + len(room.timeline)]
            at += len(room.timeline)
            room.body[state_key]["events"] = served[at : at + len(room.state)]
            at += len(room.state)

    async def _state_at_start(
        self, room_id: str, timeline: Timeline, current_group: int | None, after: int
    ) -> Mapping[StateKey, str] | None:
        """The room state just before the timeline's first event (None: the
        current state, when nothing in the timeline changed it)."""
        if not timeline.events:
            return None
        if timeline.before is not None:
            group = timeline.before.state_group
        elif timeline.exhausted and after == 0:
            return {}  # the timeline starts with the room's first event
        else:
            async with self._db.read() as conn:
                group = await self._sync.state_group_before(
                    conn, room_id, timeline.events[0].stream_ordering
                )
        if group is None:
            return {}
        if group == current_group:
            return None
        async with self._db.read() as conn:
            return await self._state.get_state(conn, group)

    async def _state_block(
        self,
        req: RoomsRequest,
        room_id: str,
        timeline: Timeline,
        current: Mapping[StateKey, str],
        current_group: int | None,
        *,
        full: bool,
        after: int,
    ) -> list[StoredEvent]:
        """``state``: the state at the START of the timeline (full), or the
        state events of the gap before a limited incremental timeline."""
        state_filter = req.filter.room.state
        lazy = state_filter.lazy_load_members
        if req.since is None or full:
            at_start = await self._state_at_start(room_id, timeline, current_group, after)
            ids = dict(current) if at_start is None else dict(at_start)
            ids = full_state_ids(ids, timeline.events)
            if lazy:
                ids = lazy_members(ids, timeline.events, req.requester.user_id, current)
                ids = self._drop_redundant(req, room_id, ids)
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
            ids = self._drop_redundant(req, room_id, ids)
            found = await self._cache.events(ids.values())
            events = list(found.values())
        return filter_state(events, state_filter)

    async def _state_after(
        self,
        req: RoomsRequest,
        room_id: str,
        timeline: Timeline,
        current: Mapping[StateKey, str],
        *,
        full: bool,
        changed: bool,
        after: int,
    ) -> list[StoredEvent]:
        """``state_after`` (MSC4222): the state at the END of the timeline (full),
        or every state change since the token up to the end of the timeline,
        timeline state events included."""
        state_filter = req.filter.room.state
        if req.since is None or full:
            ids = dict(current)
        elif not changed:
            ids = {}
        else:
            async with self._db.read() as conn:
                between = await self._sync.state_event_ids_between(
                    conn, room_id, after, req.now.room + 1
                )
            latest = set(between)
            ids = {k: v for k, v in current.items() if v in latest}
        if state_filter.lazy_load_members:
            ids = lazy_members(
                ids, timeline.events, req.requester.user_id, current, skip_timeline=False
            )
            ids = self._drop_redundant(req, room_id, ids)
        found = await self._cache.events(ids.values())
        return filter_state(found.values(), state_filter)

    def _drop_redundant(
        self, req: RoomsRequest, room_id: str, ids: dict[StateKey, str]
    ) -> dict[StateKey, str]:
        """Without ``include_redundant_members``, member events this device
        already received are not sent again (lazy loading)."""
        if req.filter.room.state.include_redundant_members:
            return ids
        user_id = req.requester.user_id
        device_id = req.requester.device_id or ""
        return {
            k: v
            for k, v in ids.items()
            if k[0] != "m.room.member"
            or self.sent_members.already_sent(user_id, device_id, room_id, k[1]) != v
        }

    def _remember_members(
        self, req: RoomsRequest, room_id: str, events: Sequence[StoredEvent]
    ) -> None:
        if not req.filter.room.state.lazy_load_members:
            return
        members = [
            (e.pdu.state_key, e.pdu.event_id)
            for e in events
            if e.pdu.type == "m.room.member" and e.pdu.state_key is not None
        ]
        if members:
            self.sent_members.record(
                req.requester.user_id, req.requester.device_id or "", room_id, members
            )

    async def _left_room(self, req: RoomsRequest, m: MembershipAt) -> JsonDict:
        limit = req.filter.timeline_limit
        after = req.since.room if req.since is not None else 0
        upto = m.stream_ordering
        raw = await self._read_timelines(
            [(m.room_id, after, upto)], limit, req.filter.room.timeline
        )
        read = raw.get(m.room_id)
        timeline = cut_timeline(
            read.events if read is not None else [],
            limit,
            upto,
            req.filter.room.timeline,
            exhausted=read.exhausted if read is not None else True,
        )
        timeline, visible = await visible_timeline(
            self._visibility,
            req.requester.user_id,
            timeline,
            req.filter.room.timeline,
            currently_joined=False,
            shared_until=upto,
        )
        if req.since is not None and not req.full_state and limit > 0 and not timeline.limited:
            # Joined after the token and left again: the client never had the
            # room, so what came before the token is history it may fetch
            # (as for a newly joined room, the timeline says ``limited``).
            changes = await self._membership_changes([m.room_id], req.since.room, upto)
            if any(u == req.requester.user_id and ms == "join" for u, ms in changes):
                timeline = replace(timeline, limited=True)
        fields = req.filter.event_fields
        state_filter = req.filter.room.state
        leave = await self._cache.event(m.event_id)
        leave_group = leave.state_group if leave is not None else None
        ids: Mapping[StateKey, str] = {}
        if req.use_state_after:
            if leave_group is not None:
                async with self._db.read() as conn:
                    at_leave = await self._state.get_state(conn, leave_group)
                    if req.since is None:
                        ids = at_leave
                    else:
                        between = set(
                            await self._sync.state_event_ids_between(
                                conn, m.room_id, after, upto + 1
                            )
                        )
                        ids = {k: v for k, v in at_leave.items() if v in between}
        elif req.since is None:
            at_start = await self._state_at_start(m.room_id, timeline, leave_group, after)
            if at_start is None and leave_group is not None:
                async with self._db.read() as conn:
                    at_start = await self._state.get_state(conn, leave_group)
            ids = full_state_ids(at_start or {}, timeline.events)
        found = await self._cache.events(ids.values())
        state = filter_state(found.values(), state_filter)
        state_key = "state_after" if req.use_state_after else "state"
        return {
            "timeline": timeline.to_json(
                await serialize_events(self._reader, req.requester, visible, fields)
            ),
            state_key: {
                "events": await serialize_events(self._reader, req.requester, state, fields)
            },
            "account_data": {"events": []},
        }

    async def membership_moves(
        self, user_id: str, memberships: Sequence[MembershipAt], since: int, upto: int
    ) -> tuple[set[str], set[str]]:
        """Users who started and stopped sharing one of the user's rooms in
        ``(since, upto]`` (for ``device_lists``): members who joined or left
        the user's joined rooms, and everyone in rooms the user joined or left.

        Returns:
            ``(joined, departed)``; the caller subtracts who still shares a room.
        """
        joined_rooms = [m.room_id for m in memberships if m.membership == "join"]
        rooms = sorted(self._notifier.rooms_changed_since("room", since, joined_rooms))
        arrived: set[str] = set()
        departed: set[str] = set()
        for m in memberships:
            if m.stream_ordering <= since:
                continue
            snapshot = await self._cache.room(m.room_id)
            members = (
                {u for u, ms in snapshot.memberships.items() if ms == "join"}
                if snapshot is not None
                else set()
            )
            if m.membership == "join":
                arrived |= members
            elif m.membership in ("leave", "ban"):
                departed |= members
        if rooms:
            changes = await self._membership_changes(rooms, since, upto)
            for member, membership in changes:
                if membership == "join":
                    arrived.add(member)
                    departed.discard(member)
                elif membership in ("leave", "ban"):
                    departed.add(member)
        arrived.discard(user_id)
        departed.discard(user_id)
        return arrived, departed

    async def _membership_changes(
        self, rooms: Sequence[str], since: int, upto: int
    ) -> list[tuple[str, str]]:
        """``(user_id, membership)`` of the rooms' membership events in
        ``(since, upto]``, oldest first (shared like the timeline reads)."""

        async def load(keys: list[_MovesKey]) -> dict[_MovesKey, tuple[_Move, ...]]:
            by_room: dict[str, list[_Move]] = {k[0]: [] for k in keys}
            async with self._db.read() as conn:
                rows = await self._sync.membership_changes_at(conn, list(by_room), since, upto)
            for room_id, member, membership, position in rows:
                by_room[room_id].append((position, member, membership))
            return {k: tuple(by_room[k[0]]) for k in keys}

        keys = [(room_id, since, upto) for room_id in rooms]
        found = await self._shared_moves.get_many(keys, load)
        moves = sorted(move for key in keys for move in found[key])
        return [(member, membership) for _, member, membership in moves]


def _narrows(event_filter: EventFilter) -> bool:
    """Whether the timeline filter may drop events (so reads page further)."""
    return bool(
        event_filter.types is not None
        or event_filter.not_types
        or event_filter.senders is not None
        or event_filter.not_senders
        or event_filter.contains_url is not None
    )
