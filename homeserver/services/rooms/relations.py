"""Event relationships: ``GET /relations``, bundled aggregations and the
checks on new relations.

Bundled aggregations (``unsigned["m.relations"]``, spec "Aggregations of
child events") are computed for a whole list of events at once, with a fixed
number of queries, and the reader's ``serialize`` adds them to every event it
serves:

- ``m.replace``: the most recent *valid* edit, served as a normal event
  (spec v1.7+: the original's content is left unchanged). Valid means same
  sender and type as the original, neither a state event, the original not
  itself an edit, and an ``m.new_content`` object (except in encrypted
  edits, where it sits in the ciphertext). Most recent: highest
  ``origin_server_ts``, then the largest event id. A redacted original gets
  no edit;
- ``m.thread``: ``latest_event`` (served with its own bundle), ``count``
  and ``current_user_participated``, for events that are not themselves
  relations;
- ``m.reference``: ``{"chunk": [{"event_id"}]}``.

Edits and annotations never carry aggregations of their own, nor do state
events. Redacted child events do not count (see ``RelationStore``).

Children only arrive with new events, so what each served event's children
are is remembered until the event stream next moves (``remember_children``):
the ``/sync`` requests that one new message wakes read it once, not once
each.

New relations are checked at send time the way Synapse does: the parent must
be known (or already be a relation target) and in the same room; an
annotation needs a key, and a user may not send the same annotation twice
(``M_DUPLICATE_ANNOTATION``); a thread may not start from an event that is
itself a relation.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.core.errors import BadJson, Codes, InvalidParam, MatrixError, NotFound
from homeserver.core.events import PDU
from homeserver.core.tokens import InvalidToken, RoomPosition
from homeserver.services.requester import Requester
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.rooms.read import RoomReader
from homeserver.services.rooms.visibility import HistoryVisibility
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.events import EventStore, StoredEvent, TopoKey
from homeserver.storage.stores.relations import (
    MAX_RECURSION_DEPTH,
    Relation,
    RelationStore,
    ThreadSummary,
)
from homeserver.storage.streams import Announcement, StreamIdGenerator

JsonDict = dict[str, Any]

REPLACE = "m.replace"
THREAD = "m.thread"
REFERENCE = "m.reference"
ANNOTATION = "m.annotation"

DEFAULT_LIMIT = 5
MAX_LIMIT = 100
MAX_KEY_LENGTH = 500
_MAX_BIGINT = 2**63 - 1

#: ``bundle_aggregations``'s shape, which ``RoomReader.serialize`` calls.
Bundler = Callable[[Requester, Sequence[StoredEvent]], Awaitable[dict[str, JsonDict]]]


def relation_of(pdu: PDU) -> tuple[str, str] | None:
    """``(rel_type, parent_id)`` of an event's ``m.relates_to``, if well formed."""
    relates_to = pdu.content.get("m.relates_to")
    if not isinstance(relates_to, dict):
        return None
    rel_type, parent = relates_to.get("rel_type"), relates_to.get("event_id")
    if isinstance(rel_type, str) and isinstance(parent, str):
        return rel_type, parent
    return None


def _valid_edit(original: PDU, edit: PDU) -> bool:
    if edit.sender != original.sender or edit.type != original.type:
        return False
    if edit.state_key is not None or original.state_key is not None:
        return False
    own = relation_of(original)
    if own is not None and own[0] == REPLACE:
        return False
    return edit.type == "m.room.encrypted" or isinstance(edit.content.get("m.new_content"), dict)


def parse_position(token: str) -> RoomPosition:
    try:
        position = RoomPosition.parse(token)
    except InvalidToken as e:
        raise InvalidParam(f"Invalid pagination token: {e}") from e
    if position.stream > _MAX_BIGINT or (position.depth or 0) > _MAX_BIGINT:
        raise InvalidParam("Invalid pagination token: out of range")
    return position


async def topo_key(
    events: EventStore, conn: Connection, room_id: str, position: RoomPosition
) -> TopoKey:
    """The topological gap a token names (a stream-only token: the gap after
    the last event before that stream position)."""
    if position.depth is not None:
        return (position.depth, position.stream)
    newest = await events.max_topo_key(conn, room_id, below_stream=position.stream + 1)
    return (newest[0], newest[1] + 1) if newest is not None else (0, 0)


#: parent events whose children facts are remembered
_FACTS_SIZE = 4096


@dataclass(frozen=True, slots=True)
class _Facts:
    """A parent event's children as every viewer sees them.

    Children only come with new events (a child, or the redaction of one),
    so these hold until the event stream next moves, which forgets them all.
    Most served events have no children: remembering that spares a burst
    of ``/sync`` requests for one new message a query each.
    """

    #: live ``m.replace`` and ``m.reference`` children, oldest first
    relations: tuple[Relation, ...]
    #: has live thread replies (None: not asked, the event is itself a relation)
    has_thread: bool | None


class RelationsService:
    def __init__(
        self,
        db: Database,
        store: RelationStore,
        events: EventStore,
        cache: RoomCache,
        visibility: HistoryVisibility,
        reader: RoomReader,
    ) -> None:
        self._db = db
        self._store = store
        self._events = events
        self._cache = cache
        self._visibility = visibility
        self._reader = reader
        #: parent event id → its children facts (see ``_Facts``), LRU
        self._facts: OrderedDict[str, _Facts] = OrderedDict()
        #: bumped by every new event: a read that started before is not kept
        self._generation = 0
        #: parent id → the read of its children in progress
        self._reading: dict[str, asyncio.Future[None]] = {}
        #: set by ``remember_children`` (the facts need the notifier)
        self._remembering = False

    # --- aggregations --------------------------------------------------------------

    async def bundle_aggregations(
        self, requester: Requester, events: Sequence[StoredEvent]
    ) -> dict[str, JsonDict]:
        """``event_id → unsigned["m.relations"]`` for those of ``events`` that have any."""
        parents: dict[str, StoredEvent] = {}
        thread_roots: list[str] = []
        for stored in events:
            pdu = stored.pdu
            if pdu.state_key is not None or pdu.event_id in parents:
                continue
            own = relation_of(pdu) if stored.redacted_by is None else None
            if own is not None and own[0] in (REPLACE, ANNOTATION):
                continue
            parents[pdu.event_id] = stored
            if own is None:
                thread_roots.append(pdu.event_id)
        if not parents:
            return {}
        relations, summaries = await self._children(requester.user_id, parents, thread_roots)
        edit_ids = [
            r.event_id
            for r in relations
            if r.rel_type == REPLACE and parents[r.parent_id].redacted_by is None
        ]
        loaded = await self._cache.events(
            [*edit_ids, *(s.latest_event_id for s in summaries.values())]
        )
        latest_edit: dict[str, StoredEvent] = {}
        for edit_id in edit_ids:
            edit = loaded.get(edit_id)
            if edit is None:
                continue
            target = relation_of(edit.pdu)
            original = parents.get(target[1]) if target is not None else None
            if original is None or not _valid_edit(original.pdu, edit.pdu):
                continue
            current = latest_edit.get(original.pdu.event_id)
            if current is None or _newer(edit.pdu, current.pdu):
                latest_edit[original.pdu.event_id] = edit
        to_serialize = list(latest_edit.values()) + [
            loaded[s.latest_event_id] for s in summaries.values() if s.latest_event_id in loaded
        ]
        served = {e["event_id"]: e for e in await self._reader.serialize(requester, to_serialize)}
        bundles: dict[str, JsonDict] = {}
        for parent_id, edit in latest_edit.items():
            bundles.setdefault(parent_id, {})[REPLACE] = served[edit.pdu.event_id]
        for root_id, summary in summaries.items():
            latest = served.get(summary.latest_event_id)
            if latest is None:
                continue
            root = parents[root_id].pdu
            bundles.setdefault(root_id, {})[THREAD] = {
                "latest_event": latest,
                "count": summary.count,
                "current_user_participated": summary.user_replied
                or root.sender == requester.user_id,
            }
        for relation in relations:
            if relation.rel_type == REFERENCE:
                refs = bundles.setdefault(relation.parent_id, {}).setdefault(
                    REFERENCE, {"chunk": []}
                )
                refs["chunk"].append({"event_id": relation.event_id})
        return bundles

    def remember_children(self, event_stream: StreamIdGenerator) -> None:
        """Remembers what each served event's children are until the event
        stream next moves; without this every bundle is read."""
        self._remembering = True
        event_stream.on_advance(self._on_advance)

    def _on_advance(self, position: int, changes: Sequence[Announcement]) -> None:
        # A new event (a child, the redaction of one) may change any
        # parent's children: the remembered facts go. This runs as the
        # stream moves, in the step that makes the new events visible.
        del position, changes
        self._generation += 1
        self._facts.clear()

    async def _children(
        self, user_id: str, parents: Mapping[str, StoredEvent], thread_roots: Sequence[str]
    ) -> tuple[list[Relation], dict[str, ThreadSummary]]:
        """The live edits and references of ``parents``, and the thread
        summaries of ``thread_roots``; only what is not remembered is read."""
        if self._remembering:
            # Another request is reading some of these (a burst of syncs
            # woken by one new event): wait for it instead of reading too.
            pending = {self._reading[p] for p in parents if p in self._reading}
            for other in pending:
                await asyncio.shield(other)
        generation = self._generation
        known: dict[str, _Facts] = {}
        for parent_id in parents:
            facts = self._facts.get(parent_id)
            if facts is not None:
                self._facts.move_to_end(parent_id)
                known[parent_id] = facts
        unknown = [p for p in parents if p not in known]
        # Thread replies are per viewer (current_user_participated): only a
        # root known to have none skips the query.
        ask_roots = [r for r in thread_roots if r not in known or known[r].has_thread is not False]
        fresh: list[Relation] = []
        summaries: dict[str, ThreadSummary] = {}
        if unknown or ask_roots:
            flight: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            for parent_id in unknown:
                self._reading.setdefault(parent_id, flight)
            try:
                async with self._db.read() as conn:
                    if unknown:
                        fresh = await self._store.relations_of(conn, unknown, (REPLACE, REFERENCE))
                    if ask_roots:
                        summaries = await self._store.thread_summaries(conn, ask_roots, user_id)
            finally:
                for parent_id in unknown:
                    if self._reading.get(parent_id) is flight:
                        del self._reading[parent_id]
                flight.set_result(None)
        by_parent: dict[str, list[Relation]] = {p: [] for p in unknown}
        for relation in fresh:
            by_parent[relation.parent_id].append(relation)
        if self._remembering and generation == self._generation:  # no new event meanwhile
            asked = set(ask_roots)
            for parent_id in parents:
                facts = known.get(parent_id)
                has_thread = parent_id in summaries if parent_id in asked else None
                if facts is None:
                    facts = _Facts(tuple(by_parent[parent_id]), has_thread)
                elif has_thread is not None and facts.has_thread is None:
                    facts = _Facts(facts.relations, has_thread)
                else:
                    continue
                self._facts[parent_id] = facts
                self._facts.move_to_end(parent_id)
            while len(self._facts) > _FACTS_SIZE:
                self._facts.popitem(last=False)
        relations = [r for f in known.values() for r in f.relations] + fresh
        return relations, summaries

    # --- GET /relations -----------------------------------------------------------

    async def relations(
        self,
        requester: Requester,
        room_id: str,
        parent_id: str,
        *,
        rel_type: str | None,
        event_type: str | None,
        from_token: str | None,
        to_token: str | None,
        backwards: bool,
        limit: int,
        recurse: bool | None,
    ) -> JsonDict:
        """A page of the events relating to a visible parent event.

        Raises:
            NotFound: the parent is unknown, in another room or not visible.
            InvalidParam: a malformed token.
        """
        parent = await self._cache.event(parent_id)
        if parent is None or parent.pdu.room_id != room_id:
            raise NotFound("Event not found")
        snapshot = await self._cache.room(room_id)
        joined = snapshot is not None and snapshot.membership_of(requester.user_id) == "join"
        if not await self._visibility.filter(requester.user_id, [parent], currently_joined=joined):
            raise NotFound("Event not found")
        limit = max(1, min(limit, MAX_LIMIT))
        start = parse_position(from_token) if from_token is not None else None
        end = parse_position(to_token) if to_token is not None else None
        async with self._db.read() as conn:
            if start is not None:
                from_key = await topo_key(self._events, conn, room_id, start)
            elif backwards:
                newest = await self._events.max_topo_key(conn, room_id)
                from_key = (newest[0], newest[1] + 1) if newest else (0, 0)
            else:
                from_key = (0, 0)
            to_key = await topo_key(self._events, conn, room_id, end) if end else None
            page = await self._store.children(
                conn,
                room_id,
                parent_id,
                rel_type=rel_type,
                event_type=event_type,
                from_key=from_key,
                to_key=to_key,
                backwards=backwards,
                limit=limit + 1,
                recurse=bool(recurse),
            )
        more = len(page) > limit
        page = page[:limit]
        found = await self._cache.events(eid for eid, _ in page)
        ordered = [found[eid] for eid, _ in page if eid in found]
        visible = await self._visibility.filter(requester.user_id, ordered, currently_joined=joined)
        body: JsonDict = {"chunk": await self._reader.serialize(requester, visible)}
        if more:
            last = page[-1][1]
            gap = last if backwards else (last[0], last[1] + 1)
            body["next_batch"] = RoomPosition(gap[0], gap[1]).encode()
        if from_token is not None:
            body["prev_batch"] = from_token
        if recurse is not None:
            body["recursion_depth"] = MAX_RECURSION_DEPTH if recurse else 1
        return body

    # --- sending -------------------------------------------------------------------

    async def check_new_relation(
        self, requester: Requester, room_id: str, event_type: str, content: Mapping[str, Any]
    ) -> None:
        """Refuses a new event whose relation Synapse would refuse (see module doc)."""
        relates_to = content.get("m.relates_to")
        if not isinstance(relates_to, dict):
            return
        rel_type, parent_id = relates_to.get("rel_type"), relates_to.get("event_id")
        if not isinstance(rel_type, str) or not isinstance(parent_id, str):
            return
        parent = await self._cache.event(parent_id)
        async with self._db.read() as conn:
            if parent is None:
                if not await self._store.is_relation_target(conn, parent_id):
                    raise _bad_relation("Can't send relation to unknown event")
            elif parent.pdu.room_id != room_id:
                raise _bad_relation("Relations must be in the same room")
            if rel_type == ANNOTATION:
                key = relates_to.get("key")
                if not isinstance(key, str):
                    raise BadJson("An annotation needs a string 'key'")
                if len(key) > MAX_KEY_LENGTH:
                    raise BadJson("Aggregation key is too long")
                if await self._store.has_annotation(
                    conn, parent_id, event_type, key, requester.user_id
                ):
                    raise MatrixError(
                        "Can't send same reaction twice", code=Codes.DUPLICATE_ANNOTATION
                    )
            elif rel_type == THREAD and await self._store.relation_of(conn, parent_id):
                raise _bad_relation("Cannot start threads from an event with a relation")


def _newer(a: PDU, b: PDU) -> bool:
    return (a.origin_server_ts, a.event_id) > (b.origin_server_ts, b.event_id)


def _bad_relation(message: str) -> MatrixError:
    return MatrixError(message, code=Codes.UNKNOWN, status=400)
