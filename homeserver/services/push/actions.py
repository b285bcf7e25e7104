"""Evaluating push rules for every new event (spec "Server behaviour").

``PushActions.write_in`` runs inside the transaction that persists an event
(so the event and its unread counts commit together, before ``/sync``
waiters are woken: the counts appear in the same ``/sync`` response as the
event, as the spec requires); ``after_commit`` then hands notifications to
the pushers. ``on_new_event`` does the same in a transaction of its own.

The cost of a send does not grow with the room. Local joined members with
the server-default rules whom the event does not single out all get the
same answer, so the default rules are evaluated once, for no real user, and
stored once (``event_push_generic``). Only these members are evaluated one
by one, each getting a row of their own (``event_push_actions``):

- members with rules of their own (``PushRulesService.users_with_own_rules``);
- members the event may single out: the target of a member event (and of an
  invite, who is not joined yet), ``m.mentions.user_ids``, and, for events
  without ``m.mentions`` (the legacy rules), members whose localpart or
  display name appears in the body.

A member's own row says "notify" or "not for me" (when the generic row
would notify them but their rules do not). Per room, the facts every send
needs (joined count, local members with their names, who has rules of
their own) are cached and rebuilt only when the room's state changes.

Members whose membership changes are tracked in ``push_room_members`` (in
the same transaction), since a generic row applies to the members joined
when it was sent. Sending an event also marks the room (or the event's
thread) as read for its sender: an implicit read receipt (spec "Receiving
notifications").
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from homeserver.core.auth.power import PowerLevels, parse_level
from homeserver.core.events import PDU
from homeserver.core.push.evaluator import PushContext, evaluate, flatten_event
from homeserver.core.push.rules import notify_and_highlight
from homeserver.services.clock import Clock
from homeserver.services.push.rules import GENERIC_USER, PushRulesService
from homeserver.services.rooms.cache import RoomCache, RoomSnapshot
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.events import StoredEvent
from homeserver.storage.stores.push import (
    MAIN_THREAD,
    WHOLE_ROOM,
    GenericPushRow,
    PushActionRow,
    PushStore,
)

logger = logging.getLogger(__name__)

#: Bound on undelivered batches kept between a transaction and its commit.
_MAX_PENDING = 1000

JsonDict = dict[str, Any]

#: Called with (user_id, room_id, event_id, stream_ordering, actions) for
#: users that have pushers.
PushSink = Callable[[str, str, str, int, tuple[Any, ...]], None]


#: relations followed up from an event to find its thread, at most
_MAX_RELATION_HOPS = 3


def thread_of(content: Mapping[str, Any]) -> str:
    """The thread an event belongs to: the root of an ``m.thread`` relation, else ``main``."""
    relates = content.get("m.relates_to")
    if isinstance(relates, Mapping) and relates.get("rel_type") == "m.thread":
        root = relates.get("event_id")
        if isinstance(root, str):
            return root
    return MAIN_THREAD


def _relation_parent(content: Mapping[str, Any]) -> str | None:
    """The event another kind of relation (not ``m.thread``) points at."""
    relates = content.get("m.relates_to")
    if not isinstance(relates, Mapping) or not isinstance(relates.get("rel_type"), str):
        return None
    parent = relates.get("event_id")
    return parent if isinstance(parent, str) else None


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


class _Delivery(NamedTuple):
    user_id: str
    room_id: str
    event_id: str
    stream_ordering: int
    actions: tuple[Any, ...]


@dataclass(slots=True)
class _Result:
    own_rows: list[PushActionRow] = field(default_factory=list)
    generic: GenericPushRow | None = None
    deliveries: list[_Delivery] = field(default_factory=list)


@dataclass(slots=True)
class _RoomFacts:
    """What every send into a room needs, for one version of its state."""

    #: the snapshot's state map these facts were computed from (held, so the
    #: identity check below stays valid)
    state: dict[Any, str]
    rules_generation: int
    joined_count: int
    #: local joined members
    local_joined: frozenset[str]
    #: local joined members with rules of their own
    own_rules: list[str]
    #: members' lowercased localparts and display names, for bodies without
    #: ``m.mentions``; built on the first such event
    names: _NameIndex | None = None


#: What the push rules count as a word character around a body match.
_WORD_RUN = re.compile(r"[a-z0-9_]+")


class _NameIndex:
    """Finds the members whose localpart or display name may occur in a body
    as a word-bounded match (the legacy mention rules), without testing
    every member: a name is only tested when the body holds its first word.

    If a name occurs word-bounded in a text, the name's first run of word
    characters is a whole run of word characters of the text too, so looking
    names up by the text's runs finds every candidate. Names without any word
    character are always tested.
    """

    def __init__(self, names: Iterable[tuple[str, str]]) -> None:
        self._by_first_word: dict[str, list[tuple[str, str]]] = {}
        self._always: list[tuple[str, str]] = []
        for user_id, name in names:
            if not name:
                continue
            first = _WORD_RUN.search(name)
            if first is None:
                self._always.append((user_id, name))
            else:
                self._by_first_word.setdefault(first.group(), []).append((user_id, name))

    def candidates(self, text: str) -> set[str]:
        """Members whose name is a substring of ``text`` (lowercased)."""
        found: set[str] = set()
        for word in set(_WORD_RUN.findall(text)):
            for user_id, name in self._by_first_word.get(word, ()):
                if name in text:
                    found.add(user_id)
        for user_id, name in self._always:
            if name in text:
                found.add(user_id)
        return found


def _named_users(pdu: PDU, facts: _RoomFacts) -> set[str]:
    """Local members the default rules might single out for ``pdu``: a
    superset of the members whose answer may differ from the generic one."""
    named: set[str] = set()
    if pdu.state_key is not None and pdu.type == "m.room.member":
        named.add(pdu.state_key)
    mentions = pdu.content.get("m.mentions")
    if isinstance(mentions, Mapping):
        ids = mentions.get("user_ids")
        if isinstance(ids, list):
            named.update(u for u in ids if isinstance(u, str) and u in facts.local_joined)
        return named
    body = pdu.content.get("body")
    if isinstance(body, str) and body and facts.names is not None:
        named |= facts.names.candidates(body.lower())
    return named


def _is_legacy_text(pdu: PDU) -> bool:
    return not isinstance(pdu.content.get("m.mentions"), Mapping) and isinstance(
        pdu.content.get("body"), str
    )


#: Rooms whose facts are kept.
_ROOM_FACTS_CACHE_SIZE = 1000


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
        #: who has pushers: generic notifications are handed to those only
        self.pusher_users: Callable[[], AbstractSet[str]] = frozenset
        self._facts: OrderedDict[str, _RoomFacts] = OrderedDict()
        #: deliveries found inside a persist transaction, made after its commit
        self._pending: dict[str, list[_Delivery]] = {}

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

    async def _process(self, pdu: PDU, stream_ordering: int) -> None:
        async with self._db.write() as txn:
            deliveries = await self._write_event(txn, pdu, stream_ordering)
        self._deliver(deliveries)

    async def write_in(self, txn: Connection, stored_events: Sequence[StoredEvent]) -> None:
        """Evaluates and stores the actions of a batch inside the transaction
        that persists it (the persister's ``in_transaction`` hook), so an
        event and its unread counts commit together, in one commit.

        Rule evaluation failures are logged and cost only the notification;
        database errors roll the batch back like any other write.
        """
        for stored in stored_events:
            deliveries = await self._write_event(txn, stored.pdu, stored.stream_ordering)
            if deliveries:
                self._pending[stored.pdu.event_id] = deliveries
        while len(self._pending) > _MAX_PENDING:
            # Batches whose transaction rolled back never reach after_commit.
            self._pending.pop(next(iter(self._pending)))

    async def after_commit(self, stored_events: Sequence[StoredEvent]) -> None:
        """Hands the committed batch's notifications to the pushers."""
        for stored in stored_events:
            deliveries = self._pending.pop(stored.pdu.event_id, None)
            if deliveries:
                self._deliver(deliveries)

    async def _write_event(
        self, txn: Connection, pdu: PDU, stream_ordering: int
    ) -> list[_Delivery]:
        thread_id = await self._thread_of(pdu)
        result = _Result()
        try:
            snapshot = await self._cache.room(pdu.room_id)
            if snapshot is not None:
                result = await self._evaluate(pdu, stream_ordering, thread_id, snapshot)
        except Exception:
            logger.exception("push rule evaluation failed for %s", pdu.event_id)
            result = _Result()
        if result.own_rows:
            await self._store.insert_actions(txn, result.own_rows)
        if result.generic is not None:
            await self._store.insert_generic(txn, result.generic)
        if pdu.type == "m.room.member" and pdu.state_key is not None:
            # Remote members too: cheap, and right if they ever matter.
            if pdu.membership == "join":
                await self._store.member_joined(txn, pdu.state_key, pdu.room_id, stream_ordering)
            else:
                await self._store.member_left(txn, pdu.state_key, pdu.room_id)
        if self._is_local(pdu.sender):
            read_scope = WHOLE_ROOM if thread_id == MAIN_THREAD else thread_id
            await self._store.advance_read_position(
                txn, pdu.sender, pdu.room_id, read_scope, stream_ordering
            )
        return result.deliveries

    async def _thread_of(self, pdu: PDU) -> str:
        """The event's thread. A relation other than ``m.thread`` (a reaction,
        an edit, a reference) belongs to its parent's thread, as in Synapse:
        a reaction to a thread reply notifies, and is read, in that thread."""
        content: Mapping[str, Any] = pdu.content
        for _ in range(_MAX_RELATION_HOPS):
            thread_id = thread_of(content)
            parent_id = _relation_parent(content)
            if thread_id != MAIN_THREAD or parent_id is None:
                return thread_id
            parent = await self._cache.event(parent_id)
            if parent is None or parent.pdu.room_id != pdu.room_id:
                return MAIN_THREAD
            content = parent.pdu.content
        return thread_of(content)

    def _deliver(self, deliveries: Sequence[_Delivery]) -> None:
        for d in deliveries:
            for sink in self._sinks:
                sink(d.user_id, d.room_id, d.event_id, d.stream_ordering, d.actions)

    async def _room_facts(self, snapshot: RoomSnapshot) -> _RoomFacts:
        own_rules = await self._rules.users_with_own_rules()
        facts = self._facts.get(snapshot.room_id)
        if (
            facts is not None
            and facts.state is snapshot.state
            and facts.rules_generation == self._rules.generation
        ):
            self._facts.move_to_end(snapshot.room_id)
            return facts
        joined = [u for u, m in snapshot.memberships.items() if m == "join"]
        local = frozenset(u for u in joined if self._is_local(u))
        if len(own_rules) < len(local):
            with_rules = [u for u in own_rules if u in local]
        else:
            with_rules = [u for u in local if u in own_rules]
        facts = _RoomFacts(
            state=snapshot.state,
            rules_generation=self._rules.generation,
            joined_count=len(joined),
            local_joined=local,
            own_rules=with_rules,
        )
        self._facts[snapshot.room_id] = facts
        while len(self._facts) > _ROOM_FACTS_CACHE_SIZE:
            self._facts.popitem(last=False)
        return facts

    async def _load_names(self, snapshot: RoomSnapshot, facts: _RoomFacts) -> None:
        members = sorted(facts.local_joined)
        names = await self._display_names(snapshot, members)
        facts.names = _NameIndex(
            [(u, u[1:].partition(":")[0].lower()) for u in members]
            + [(u, name.lower()) for u, name in names.items()]
        )

    async def _evaluate(
        self, pdu: PDU, stream_ordering: int, thread_id: str, snapshot: RoomSnapshot
    ) -> _Result:
        facts = await self._room_facts(snapshot)
        if facts.names is None and _is_legacy_text(pdu):
            await self._load_names(snapshot, facts)
        flat = flatten_event(push_event_json(pdu))
        auth = await self._cache.state_pdus(
            snapshot.state, [("m.room.create", ""), ("m.room.power_levels", "")]
        )
        power = PowerLevels.from_state(snapshot.room_version, auth)
        sender_level = float(power.user_level(pdu.sender))
        levels = notification_levels(power)
        now = self._clock.time_ms()
        result = _Result()

        def context(user_id: str, display_name: str | None) -> PushContext:
            return PushContext(
                user_id=user_id,
                room_member_count=facts.joined_count,
                user_display_name=display_name,
                sender_power_level=sender_level,
                notification_levels=levels,
            )

        generic = evaluate(self._rules.generic_default, flat, context(GENERIC_USER, None))
        generic_notify, generic_highlight = notify_and_highlight(generic)
        if generic_notify:
            result.generic = GenericPushRow(
                room_id=pdu.room_id,
                event_id=pdu.event_id,
                stream_ordering=stream_ordering,
                thread_id=thread_id,
                sender=pdu.sender,
                highlight=generic_highlight,
                actions=generic,
                ts=now,
            )
        # Members evaluated one by one: those with rules of their own and
        # those the event may single out, plus an invitee (not joined yet).
        special = set(facts.own_rules) | _named_users(pdu, facts)
        special &= facts.local_joined
        if (
            pdu.type == "m.room.member"
            and pdu.membership == "invite"
            and pdu.state_key is not None
            and self._is_local(pdu.state_key)
        ):
            special.add(pdu.state_key)
        special.discard(pdu.sender)
        if special:
            ordered = sorted(special)
            compiled = await self._rules.compiled_for(ordered)
            names: dict[str, str] = {}
            if isinstance(pdu.content.get("body"), str):
                wanted = [u for u in ordered if compiled[u].uses_display_name]
                names = await self._display_names(snapshot, wanted)
            for user_id in ordered:
                actions = evaluate(compiled[user_id], flat, context(user_id, names.get(user_id)))
                notify, highlight = notify_and_highlight(actions)
                if notify or generic_notify:
                    result.own_rows.append(
                        PushActionRow(
                            user_id=user_id,
                            room_id=pdu.room_id,
                            event_id=pdu.event_id,
                            stream_ordering=stream_ordering,
                            thread_id=thread_id,
                            highlight=highlight,
                            actions=actions,
                            ts=now,
                            notif=notify,
                        )
                    )
                if notify:
                    result.deliveries.append(
                        _Delivery(user_id, pdu.room_id, pdu.event_id, stream_ordering, actions)
                    )
        if generic_notify:
            with_pushers = self.pusher_users()
            if with_pushers:
                smaller, larger = (
                    (with_pushers, facts.local_joined)
                    if len(with_pushers) < len(facts.local_joined)
                    else (facts.local_joined, with_pushers)
                )
                for user_id in smaller:
                    if user_id in larger and user_id not in special and user_id != pdu.sender:
                        result.deliveries.append(
                            _Delivery(user_id, pdu.room_id, pdu.event_id, stream_ordering, generic)
                        )
        return result

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
