"""Evaluating push rules for every new event (spec "Server behaviour").

``PushActions.write_in`` runs inside the transaction that persists an event
(so the event and its unread counts commit together, before ``/sync``
waiters are woken: the counts appear in the same ``/sync`` response as the
event, as the spec requires); ``after_commit`` then hands notifications to
the pushers. ``on_new_event`` does the same in a transaction of its own. For
each local user in the room other than the sender (joined members, plus the
target of an invite) it evaluates the user's compiled rules and stores one
``event_push_actions`` row per user the rules notify, in one batched write.
Users with pushers are then handed to the delivery queue.

Per event, the work shared by all members is done once: flattening the
event, the joined-member count, the sender's power level and the room's
notification levels. Per member it is one pass over the compiled rules,
plus a member-event lookup only when the user's rules use
``contains_display_name`` and the event has a ``content.body``.

Sending an event also marks the room (or the event's thread) as read for
its sender: an implicit read receipt (spec "Receiving notifications").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from homeserver.core.auth.power import PowerLevels, parse_level
from homeserver.core.events import PDU
from homeserver.core.push.evaluator import PushContext, evaluate, flatten_event
from homeserver.core.push.rules import notify_and_highlight
from homeserver.services.clock import Clock
from homeserver.services.push.rules import GENERIC_USER, PushRulesService
from homeserver.services.rooms.cache import RoomCache, RoomSnapshot
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.events import StoredEvent
from homeserver.storage.stores.push import MAIN_THREAD, WHOLE_ROOM, PushActionRow, PushStore

logger = logging.getLogger(__name__)

#: Bound on undelivered batches kept between a transaction and its commit.
_MAX_PENDING = 1000

JsonDict = dict[str, Any]

#: Called with (user_id, room_id, event_id, stream_ordering, actions) for
#: users that have pushers.
PushSink = Callable[[str, str, str, int, tuple[Any, ...]], None]


def thread_of(content: Mapping[str, Any]) -> str:
    """The thread an event belongs to: the root of an ``m.thread`` relation, else ``main``."""
    relates = content.get("m.relates_to")
    if isinstance(relates, Mapping) and relates.get("rel_type") == "m.thread":
        root = relates.get("event_id")
        if isinstance(root, str):
            return root
    return MAIN_THREAD


def push_event_json(pdu: PDU) -> JsonDict:
    """The fields of an event that push rule conditions may read."""
    event: JsonDict = {
        "event_id": pdu.event_id,
        "type": pdu.type,
        "sender": pdu.sender,
        "room_id": pdu.room_id,
        "origin_server_ts": pdu.origin_server_ts,
        "content": pdu.content,
    }
    if pdu.state_key is not None:
        event["state_key"] = pdu.state_key
    if pdu.redacts is not None:
        event["redacts"] = pdu.redacts
    return event


def notification_levels(power: PowerLevels) -> dict[str, int]:
    """The room's ``notifications`` levels (``room`` always present)."""
    levels = {"room": power.notification_level("room")}
    raw = power.content.get("notifications")
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            level = parse_level(value, power.room_version)
            if isinstance(key, str) and level is not None:
                levels[key] = level
    return levels


class _NamedUsers:
    """Who an event may be about, for the default rules: the target of a
    member event, ``m.mentions.user_ids``, and (for events without
    ``m.mentions``, the legacy rules) anyone whose localpart or display name
    appears in the body. A superset of the users those rules single out."""

    def __init__(self, pdu: PDU) -> None:
        self.state_key = pdu.state_key
        mentions = pdu.content.get("m.mentions")
        self.mentioned: frozenset[str] = frozenset()
        self.legacy = not isinstance(mentions, Mapping)
        if isinstance(mentions, Mapping):
            ids = mentions.get("user_ids")
            if isinstance(ids, list):
                self.mentioned = frozenset(u for u in ids if isinstance(u, str))
        body = pdu.content.get("body")
        self.body = body.lower() if isinstance(body, str) else ""

    def may_concern(self, user_id: str, display_name: str | None) -> bool:
        if user_id == self.state_key or user_id in self.mentioned:
            return True
        if not self.legacy or not self.body:
            return False
        localpart = user_id[1:].partition(":")[0].lower()
        if localpart and localpart in self.body:
            return True
        return (
            display_name is not None and display_name != "" and (display_name.lower() in self.body)
        )


class PushActions:
    """Stores notify/highlight rows for new events."""

    def __init__(
        self,
        db: Database,
        store: PushStore,
        rules: PushRulesService,
        cache: RoomCache,
        clock: Clock,
        server_name: str,
    ) -> None:
        self._db = db
        self._store = store
        self._rules = rules
        self._cache = cache
        self._clock = clock
        self._local_suffix = ":" + server_name
        self._sinks: list[PushSink] = []
        #: rows written inside a persist transaction, delivered after its commit
        self._pending: dict[str, list[PushActionRow]] = {}

    def add_sink(self, sink: PushSink) -> None:
        """Registers a receiver of notifications for users with pushers."""
        self._sinks.append(sink)

    async def on_persisted(self, stored_events: Sequence[StoredEvent]) -> None:
        """``on_new_event`` for each of a persisted batch, in order."""
        for stored in stored_events:
            await self.on_new_event(stored.pdu, stored.stream_ordering)

    async def on_new_event(self, pdu: PDU, stream_ordering: int) -> None:
        """Evaluates push rules for a committed event. Never raises.

        Call after the event's transaction commits and before waking
        ``/sync``. Failures are logged: a lost notification must not fail
        the send.

        Args:
            pdu: the event.
            stream_ordering: its position in the room event stream.
        """
        try:
            await self._process(pdu, stream_ordering)
        except Exception:
            logger.exception("push rule evaluation failed for %s", pdu.event_id)

    def _is_local(self, user_id: str) -> bool:
        return user_id.endswith(self._local_suffix)

    def _recipients(self, pdu: PDU, snapshot: RoomSnapshot) -> list[str]:
        users = [
            user_id
            for user_id, membership in snapshot.memberships.items()
            if membership == "join" and user_id != pdu.sender and self._is_local(user_id)
        ]
        target = pdu.state_key
        if (
            pdu.type == "m.room.member"
            and pdu.membership == "invite"
            and target is not None
            and target != pdu.sender
            and self._is_local(target)
            and target not in users
        ):
            users.append(target)
        return users

    async def _process(self, pdu: PDU, stream_ordering: int) -> None:
        async with self._db.write() as txn:
            rows = await self._write_event(txn, pdu, stream_ordering)
        self._deliver(rows)

    async def write_in(self, txn: Connection, stored_events: Sequence[StoredEvent]) -> None:
        """Evaluates and stores the actions of a batch inside the transaction
        that persists it (the persister's ``in_transaction`` hook), so an
        event and its unread counts commit together, in one commit.

        Rule evaluation failures are logged and cost only the notification;
        database errors roll the batch back like any other write.
        """
        for stored in stored_events:
            rows = await self._write_event(txn, stored.pdu, stored.stream_ordering)
            if rows:
                self._pending[stored.pdu.event_id] = rows
        while len(self._pending) > _MAX_PENDING:
            # Batches whose transaction rolled back never reach after_commit.
            self._pending.pop(next(iter(self._pending)))

    async def after_commit(self, stored_events: Sequence[StoredEvent]) -> None:
        """Hands the committed batch's notifications to the pushers."""
        for stored in stored_events:
            rows = self._pending.pop(stored.pdu.event_id, None)
            if rows:
                self._deliver(rows)

    async def _write_event(
        self, txn: Connection, pdu: PDU, stream_ordering: int
    ) -> list[PushActionRow]:
        thread_id = thread_of(pdu.content)
        rows: list[PushActionRow] = []
        try:
            snapshot = await self._cache.room(pdu.room_id)
            recipients = self._recipients(pdu, snapshot) if snapshot is not None else []
            if snapshot is not None and recipients:
                rows = await self._evaluate(pdu, stream_ordering, thread_id, snapshot, recipients)
        except Exception:
            logger.exception("push rule evaluation failed for %s", pdu.event_id)
            rows = []
        sender_reads = self._is_local(pdu.sender)
        if rows:
            await self._store.insert_actions(txn, rows)
        if sender_reads:
            read_scope = WHOLE_ROOM if thread_id == MAIN_THREAD else thread_id
            await self._store.advance_read_position(
                txn, pdu.sender, pdu.room_id, read_scope, stream_ordering
            )
        return rows

    def _deliver(self, rows: Sequence[PushActionRow]) -> None:
        for row in rows:
            for sink in self._sinks:
                sink(row.user_id, row.room_id, row.event_id, row.stream_ordering, row.actions)

    async def _evaluate(
        self,
        pdu: PDU,
        stream_ordering: int,
        thread_id: str,
        snapshot: RoomSnapshot,
        recipients: list[str],
    ) -> list[PushActionRow]:
        flat = flatten_event(push_event_json(pdu))
        member_count = sum(1 for m in snapshot.memberships.values() if m == "join")
        auth = await self._cache.state_pdus(
            snapshot.state, [("m.room.create", ""), ("m.room.power_levels", "")]
        )
        power = PowerLevels.from_state(snapshot.room_version, auth)
        sender_level = float(power.user_level(pdu.sender))
        levels = notification_levels(power)
        compiled = await self._rules.compiled_for(recipients)
        names: dict[str, str] = {}
        if isinstance(pdu.content.get("body"), str):
            wanted = [u for u in recipients if compiled[u].uses_display_name]
            names = await self._display_names(snapshot, wanted)
        now = self._clock.time_ms()
        rows = []
        # Members with the default rules who are not named by the event all
        # get the same actions: evaluate those once (this is what keeps a
        # send in a room of thousands cheap), and only the members the event
        # may concern (mentions, their name in the body, an invite) in full.
        generic: tuple[Any, ...] | None = None
        generic_flags: tuple[bool, bool] | None = None
        named = _NamedUsers(pdu)
        for user_id in recipients:
            if self._rules.has_default_rules_only(user_id) and not named.may_concern(
                user_id, names.get(user_id)
            ):
                if generic is None:
                    generic = evaluate(
                        self._rules.generic_default,
                        flat,
                        PushContext(
                            user_id=GENERIC_USER,
                            room_member_count=member_count,
                            user_display_name=None,
                            sender_power_level=sender_level,
                            notification_levels=levels,
                        ),
                    )
                actions = generic
            else:
                context = PushContext(
                    user_id=user_id,
                    room_member_count=member_count,
                    user_display_name=names.get(user_id),
                    sender_power_level=sender_level,
                    notification_levels=levels,
                )
                actions = evaluate(compiled[user_id], flat, context)
            if actions is generic:
                if generic_flags is None:
                    generic_flags = notify_and_highlight(actions)
                notify, highlight = generic_flags
            else:
                notify, highlight = notify_and_highlight(actions)
            if notify:
                rows.append(
                    PushActionRow(
                        user_id=user_id,
                        room_id=pdu.room_id,
                        event_id=pdu.event_id,
                        stream_ordering=stream_ordering,
                        thread_id=thread_id,
                        highlight=highlight,
                        actions=actions,
                        ts=now,
                    )
                )
        return rows

    async def _display_names(self, snapshot: RoomSnapshot, users: list[str]) -> dict[str, str]:
        """Display names from the users' current member events in the room."""
        if not users:
            return {}
        members = await self._cache.state_pdus(
            snapshot.state, [("m.room.member", u) for u in users]
        )
        names = {}
        for (_, user_id), member in members.items():
            name = member.content.get("displayname")
            if isinstance(name, str) and name:
                names[user_id] = name
        return names
