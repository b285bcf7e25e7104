"""``GET /sync``: one response, and the long-poll around it.

Order of work for one response:

1. read every stream's committed position (``next_batch``) BEFORE any
   query, so nothing committing meanwhile is skipped: it lands above the
   token and comes next time;
2. if no stream moved past ``since`` (a client polling again right after
   its last response), the response would be empty: wait first, knowing
   only the rooms to wait on (the user's remembered memberships);
3. build the room sections, then the user's own streams (account data,
   presence, to-device, device lists).

An empty incremental response waits on the notifier (per user and per
room) until something concerning the user commits or the timeout ends,
then builds again. At most ``BUILD_CONCURRENCY`` responses are built at
once: when one message wakes hundreds of long-polls, the first answers
leave after a few builds instead of all finishing together at the end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeserver.core.tokens import StreamToken
from homeserver.notifier import Notifier
from homeserver.services.account_data import AccountDataService
from homeserver.services.clock import Clock
from homeserver.services.filters import Filter
from homeserver.services.requester import Requester
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.sync.presence import PresenceService
from homeserver.services.sync.rooms import RoomSections, RoomsRequest
from homeserver.services.sync.streams import TokenSource
from homeserver.services.sync.to_device import ToDeviceService
from homeserver.services.sync.typing import TypingService
from homeserver.storage.db import Database
from homeserver.storage.stores.account_data import AccountDataChange

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: responses built at the same time, at most (the others queue, oldest first)
BUILD_CONCURRENCY = 16

#: ``(user_id, device_id) → ({algorithm: count} of unclaimed one-time keys,
#: algorithms of unused fallback keys)``; set by the E2EE service.
KeyState = Callable[[str, str], Awaitable[tuple[dict[str, int], list[str]]]]


async def no_key_state(user_id: str, device_id: str) -> tuple[dict[str, int], list[str]]:
    del user_id, device_id
    return {}, []


#: ``user_id → {"global": ruleset}``, the user's push rules; set by the push service.
PushRulesOf = Callable[[str], Awaitable[JsonDict]]


@dataclass(frozen=True, slots=True)
class SyncRequest:
    requester: Requester
    since: StreamToken | None
    filter: Filter
    full_state: bool = False
    timeout_ms: int = 0
    set_presence: str | None = None
    #: MSC4222: ``state_after`` instead of ``state``
    use_state_after: bool = False


@dataclass(slots=True)
class _Built:
    body: JsonDict
    token: StreamToken
    watched: list[str]
    empty: bool


class SyncService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        notifier: Notifier,
        tokens: TokenSource,
        rooms: RoomSections,
        cache: RoomCache,
        account_data: AccountDataService,
        typing: TypingService,
        presence: PresenceService,
        to_device: ToDeviceService,
        device_list_changes: Callable[[int, int], Awaitable[set[str]]],
        *,
        timeout_cap_ms: int,
        key_state: KeyState = no_key_state,
    ) -> None:
        self._db = db
        self._clock = clock
        self._notifier = notifier
        self._tokens = tokens
        self._rooms = rooms
        self._cache = cache
        self._account_data = account_data
        self._typing = typing
        self._presence = presence
        self._to_device = to_device
        self._device_list_changes = device_list_changes
        self._timeout_cap_ms = timeout_cap_ms
        self.key_state = key_state
        #: an initial sync always carries ``m.push_rules`` (clients such as
        #: matrix-nio read it), also for a user who never changed a rule
        self.push_rules: PushRulesOf | None = None
        self._build_slots = asyncio.Semaphore(BUILD_CONCURRENCY)

    async def sync(self, req: SyncRequest) -> JsonDict:
        """Builds a sync response, long-polling when there is nothing new."""
        user_id = req.requester.user_id
        if req.set_presence is not None and req.set_presence != "offline":
            await self._presence.set_presence(
                user_id, req.set_presence, keep_status=True, from_sync=True
            )
        if req.since is not None:
            self._typing.see_position(req.since.typing)
        loop = asyncio.get_running_loop()
        timeout_s = max(0, min(req.timeout_ms, self._timeout_cap_ms)) / 1000
        deadline = loop.time() + timeout_s
        if timeout_s > 0:
            watched = await self._idle_since(req)
            if watched is not None and req.since is not None:
                # Nothing moved since the token (a client polling again right
                # after a response): the response would be empty, so wait
                # before building it.
                await self._notifier.wait_for_events(user_id, watched, req.since, timeout_s)
        built = await self._build_in_turn(req)
        while built.empty and req.since is not None and not req.full_state:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            woken = await self._notifier.wait_for_events(
                user_id, built.watched, built.token, remaining
            )
            if not woken:
                break
            built = await self._build_in_turn(req)
        return built.body

    async def _build_in_turn(self, req: SyncRequest) -> _Built:
        # One message wakes every member's long-poll at once. Built all
        # together, they would interleave and all finish at the end; a few
        # at a time, the first answers leave early and the total is no longer.
        async with self._build_slots:
            return await self._build(req)

    async def _idle_since(self, req: SyncRequest) -> list[str] | None:
        """The rooms to wait on when no stream moved past ``since`` (so the
        response would be empty); None when something may have moved."""
        since = req.since
        if since is None or req.full_state:
            return None
        device_id = req.requester.device_id or ""
        if self._to_device.awaiting_ack(req.requester.user_id, device_id):
            return None  # the next build acknowledges (deletes) delivered messages
        async with self._db.read() as conn:
            now = await self._tokens.current_token(conn)
        if now.is_after(since):
            return None
        memberships = await self._rooms.memberships(req.requester.user_id, since.room)
        return [m.room_id for m in memberships if m.membership in ("join", "invite")]

    async def _build(self, req: SyncRequest) -> _Built:
        user_id = req.requester.user_id
        device_id = req.requester.device_id or ""
        since = req.since
        async with self._db.read() as conn:
            now = await self._tokens.current_token(conn)
        committed_room = now.room
        # Positions only go forward, even if a stream restarted lower.
        if since is not None:
            now = since.advance(**{f: getattr(now, f) for f in _FIELDS})
        memberships = await self._rooms.memberships(user_id, now.room)
        account_changes: list[AccountDataChange] = []
        since_ad = since.account_data if since is not None else 0
        if now.account_data > since_ad:
            account_changes = await self._account_data.changes_since(
                user_id, since_ad, now.account_data
            )
        room_account_data: dict[str, list[AccountDataChange]] = {}
        global_account_data: list[JsonDict] = []
        for change in account_changes:
            if change.room_id is None:
                if req.filter.account_data.allows(change.type, user_id):
                    global_account_data.append({"type": change.type, "content": change.content})
            else:
                room_account_data.setdefault(change.room_id, []).append(change)
        rooms = await self._rooms.build(
            RoomsRequest(
                requester=req.requester,
                since=since,
                now=now,
                filter=req.filter,
                full_state=req.full_state,
                use_state_after=req.use_state_after,
                room_account_data=room_account_data,
                committed_room=committed_room,
            ),
            memberships,
        )
        if (
            since is None
            and self.push_rules is not None
            and req.filter.account_data.allows("m.push_rules", user_id)
            and not any(e["type"] == "m.push_rules" for e in global_account_data)
        ):
            content = await self.push_rules(user_id)
            global_account_data.append({"type": "m.push_rules", "content": content})
        limit = req.filter.account_data.limit
        if limit is not None:
            global_account_data = global_account_data[:limit]
        to_device, to_device_pos = await self._to_device.for_sync(
            user_id, device_id, since=since.to_device if since else 0, upto=now.to_device
        )
        token = StreamToken(
            **{f: getattr(now, f) for f in _FIELDS if f != "to_device"}, to_device=to_device_pos
        )
        moves: tuple[set[str], set[str]] = (set(), set())
        if since is not None and now.room > since.room:
            moves = await self._rooms.membership_moves(user_id, memberships, since.room, now.room)
        presence = await self._presence_events(req, rooms.joined, now, arrived=moves[0])
        device_lists = await self._device_lists(req, rooms.joined, now, moves)
        key_counts, fallback_types = await self.key_state(user_id, device_id)
        body: JsonDict = {
            "next_batch": token.encode(),
            "rooms": rooms.to_json(),
            "presence": {"events": presence},
            "account_data": {"events": global_account_data},
            "to_device": {"events": to_device},
            "device_lists": device_lists,
            "device_one_time_keys_count": key_counts,
            "device_unused_fallback_key_types": fallback_types,
        }
        empty = (
            rooms.is_empty()
            and not presence
            and not global_account_data
            and not to_device
            and not device_lists["changed"]
            and not device_lists["left"]
        )
        return _Built(body, token, rooms.watched, empty)

    async def _sharing_users(self, user_id: str, joined: list[str]) -> set[str]:
        users = {user_id}
        for room_id in joined:
            snapshot = await self._cache.room(room_id)
            if snapshot is not None:
                users.update(u for u, m in snapshot.memberships.items() if m == "join")
        return users

    async def _presence_events(
        self, req: SyncRequest, joined: list[str], now: StreamToken, *, arrived: set[str]
    ) -> list[JsonDict]:
        """Presence changed since the token of users sharing a room, and the
        current presence of users who started sharing one (a new member of
        a room, or the members of a room the user joined), as Synapse sends."""
        if not self._presence.enabled:
            return []
        since = req.since.presence if req.since is not None else 0
        user_id = req.requester.user_id
        changed = now.presence > since and (
            req.since is None
            or self._notifier.changed_since("presence", since, rooms=joined, users=(user_id,))
        )
        if not changed and not arrived:
            return []
        users = await self._sharing_users(user_id, joined)
        newcomers = sorted(arrived & users)
        async with self._db.read() as conn:
            rows = []
            if changed:
                rows = await self._presence.store.changes_for_users(
                    conn, sorted(users), since=since, upto=now.presence
                )
            if newcomers:
                already = {r.user_id for r in rows}
                current = await self._presence.store.changes_for_users(
                    conn, newcomers, since=0, upto=now.presence
                )
                rows.extend(r for r in current if r.user_id not in already)
        flt = req.filter.presence
        events = [
            {"type": "m.presence", "sender": r.user_id, "content": self._presence.to_content(r)}
            for r in rows
            if flt.allows("m.presence", r.user_id)
        ]
        return events[: flt.limit] if flt.limit is not None else events

    async def _device_lists(
        self,
        req: SyncRequest,
        joined: list[str],
        now: StreamToken,
        moves: tuple[set[str], set[str]],
    ) -> dict[str, list[str]]:
        """``changed``: users sharing a room whose devices changed, or who
        started sharing one; ``left``: users who shared a room during the
        range and share none now (both since the token)."""
        out: dict[str, list[str]] = {"changed": [], "left": []}
        since = req.since
        if since is None:
            return out
        user_id = req.requester.user_id
        changed: set[str] = set()
        if now.device_lists > since.device_lists:
            changed = await self._device_list_changes(since.device_lists, now.device_lists)
        arrived, departed = moves
        changed |= arrived
        if not changed and not departed:
            return out
        sharing = await self._sharing_users(user_id, joined)
        out["changed"] = sorted(changed & sharing)
        out["left"] = sorted(departed - sharing)
        return out


_FIELDS = tuple(StreamToken.__dataclass_fields__)
