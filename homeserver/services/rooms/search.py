"""Server-side search (``POST /search``, category ``room_events``).

Indexing: after each persisted batch (an ``after_commit`` hook of the
persister) the searchable text of every ``m.room.message`` (``content.body``),
``m.room.name`` (``content.name``) and ``m.room.topic`` (``content.topic``)
goes through ``core.search_tokens`` into the token index; a redaction that
took effect removes its target from it. Searching does not depend on the
language: CJK text is indexed as character bigrams, other scripts as words.

Searching:

- only rooms the user is or once was joined to (narrowed by the filter's
  ``rooms``/``not_rooms``), and only events history visibility lets them see
  (``visibility.py``: someone who joined a ``joined`` room later does not
  find what was said before), never redacted events;
- every query token must match; ``order_by`` ``rank`` sorts by score (share
  of the text made of query tokens), then newest; ``recent`` newest first;
- ``next_batch`` is the sort key of the last hit looked at, so pages never
  repeat or skip a hit; a full page always has one (as Synapse: the page
  after the last hit is then empty and has none);
- ``count`` is the number of index matches before history visibility (the
  spec calls it approximate), but never one the searcher cannot have seen
  for lack of membership: in a room they left, only matches up to their
  leave count; forgotten rooms are not searched;
- ``event_context``, ``include_state`` and ``groupings`` are served from the
  room read paths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from homeserver.core.errors import BadJson, Forbidden, InvalidParam
from homeserver.core.search_tokens import (
    SEARCH_KEYS,
    document_tokens,
    highlight_words,
    query_terms,
    query_tokens,
    searchable_text,
)
from homeserver.core.tokens import RoomPosition
from homeserver.services.requester import Requester
from homeserver.services.rooms.cache import RoomCache
from homeserver.services.rooms.read import RoomReader
from homeserver.services.rooms.visibility import HistoryVisibility, VisibleEvent
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.events import EventStore, StoredEvent
from homeserver.storage.stores.search import (
    SCORE_SCALE,
    IndexedText,
    SearchHit,
    SearchQuery,
    SearchStore,
)
from homeserver.storage.stores.state import StateStore

JsonDict = dict[str, Any]

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
DEFAULT_CONTEXT = 5
MAX_CONTEXT = 100
#: a longer query is refused (every token is one SQL argument)
MAX_QUERY_TOKENS = 200
#: index pages read to fill one response (history visibility hides hits)
_MAX_ROUNDS = 5
_GROUP_KEYS = ("room_id", "sender")
_ORDERS = ("rank", "recent")
_KEYS = tuple(SEARCH_KEYS.values())
_TYPE_OF_KEY = {key: event_type for event_type, key in SEARCH_KEYS.items()}
#: ``<order_by>_<score>_<stream_ordering>``; 18 digits stay within BIGINT
_BATCH_TOKEN = re.compile(r"(rank|recent)_([0-9]{1,18})_([0-9]{1,18})")
#: longer filter lists are refused (each entry is one SQL argument)
MAX_FILTER_ENTRIES = 1000


# --- the request -------------------------------------------------------------------


def _strings(obj: JsonDict, key: str, where: str) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadJson(f"'{where}.{key}' must be a list of strings")
    if len(value) > MAX_FILTER_ENTRIES:
        raise BadJson(f"'{where}.{key}' may hold at most {MAX_FILTER_ENTRIES} entries")
    return tuple(value)


def _object(obj: JsonDict, key: str, where: str) -> JsonDict:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadJson(f"'{where}{key}' must be an object")
    return value


def _int(obj: JsonDict, key: str, where: str, default: int, minimum: int, maximum: int) -> int:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise BadJson(f"'{where}.{key}' must be an integer of at least {minimum}")
    return min(value, maximum)


def _bool(obj: JsonDict, key: str, where: str) -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise BadJson(f"'{where}.{key}' must be a boolean")
    return value


def _type_matches(event_type: str, patterns: Sequence[str]) -> bool:
    return any(
        event_type.startswith(p[:-1]) if p.endswith("*") else event_type == p for p in patterns
    )


@dataclass(frozen=True, slots=True)
class RoomEventsCriteria:
    """``search_categories.room_events`` of a request."""

    search_term: str
    keys: tuple[str, ...] = _KEYS
    order_by: str = "rank"
    limit: int = DEFAULT_LIMIT
    rooms: tuple[str, ...] | None = None
    not_rooms: tuple[str, ...] = ()
    senders: tuple[str, ...] | None = None
    not_senders: tuple[str, ...] = ()
    types: tuple[str, ...] | None = None
    not_types: tuple[str, ...] = ()
    #: None: no ``event_context`` requested
    context: tuple[int, int, bool] | None = None
    include_state: bool = False
    group_by: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, body: JsonDict) -> RoomEventsCriteria | None:
        """Reads a request body; None when it asks for no category.

        Raises:
            BadJson: a missing or malformed field, or an unknown category.
        """
        categories = body.get("search_categories")
        if not isinstance(categories, dict):
            raise BadJson("'search_categories' must be an object")
        unknown = sorted(k for k in categories if k != "room_events")
        if unknown:
            raise BadJson(f"Unknown search category {unknown[0]!r}")
        if "room_events" not in categories:
            return None
        crit = _object(categories, "room_events", "search_categories.")
        where = "room_events"
        term = crit.get("search_term")
        if not isinstance(term, str):
            raise BadJson("'room_events.search_term' must be a string")
        keys = _strings(crit, "keys", where) or _KEYS
        if any(k not in _KEYS for k in keys):
            raise BadJson(f"'room_events.keys' may only hold {', '.join(_KEYS)}")
        order_by = crit.get("order_by", "rank")
        if order_by not in _ORDERS:
            raise BadJson("'room_events.order_by' must be 'rank' or 'recent'")
        flt = _object(crit, "filter", "room_events.")
        context = None
        if crit.get("event_context") is not None:
            ctx = _object(crit, "event_context", "room_events.")
            context = (
                _int(ctx, "before_limit", "event_context", DEFAULT_CONTEXT, 0, MAX_CONTEXT),
                _int(ctx, "after_limit", "event_context", DEFAULT_CONTEXT, 0, MAX_CONTEXT),
                _bool(ctx, "include_profile", "event_context"),
            )
        group_by: list[str] = []
        groups = _object(crit, "groupings", "room_events.").get("group_by", [])
        if not isinstance(groups, list):
            raise BadJson("'groupings.group_by' must be a list")
        for group in groups:
            if not isinstance(group, dict) or group.get("key") not in _GROUP_KEYS:
                raise BadJson('each \'group_by\' entry must be {"key": "room_id" | "sender"}')
            group_by.append(group["key"])
        return cls(
            search_term=term,
            keys=tuple(dict.fromkeys(keys)),
            order_by=str(order_by),
            limit=_int(flt, "limit", "filter", DEFAULT_LIMIT, 1, MAX_LIMIT),
            rooms=_strings(flt, "rooms", "filter"),
            not_rooms=_strings(flt, "not_rooms", "filter") or (),
            senders=_strings(flt, "senders", "filter"),
            not_senders=_strings(flt, "not_senders", "filter") or (),
            types=_strings(flt, "types", "filter"),
            not_types=_strings(flt, "not_types", "filter") or (),
            context=context,
            include_state=_bool(crit, "include_state", where),
            group_by=tuple(dict.fromkeys(group_by)),
        )

    def event_types(self) -> list[str]:
        """The searchable event types the keys and the filter's types allow."""
        out = []
        for key in self.keys:
            event_type = _TYPE_OF_KEY[key]
            if self.not_types and _type_matches(event_type, self.not_types):
                continue
            if self.types is not None and not _type_matches(event_type, self.types):
                continue
            out.append(event_type)
        return out


def _encode_batch(order_by: str, hit: SearchHit) -> str:
    return f"{order_by}_{hit.score}_{hit.stream_ordering}"


def _parse_batch(token: str | None, order_by: str) -> tuple[int, int] | None:
    if token is None:
        return None
    match = _BATCH_TOKEN.fullmatch(token)
    if match is None or match[1] != order_by:
        raise InvalidParam("Invalid 'next_batch' token for this search")
    return int(match[2]), int(match[3])


# --- the service ---------------------------------------------------------------


class SearchService:
    def __init__(
        self,
        db: Database,
        store: SearchStore,
        events: EventStore,
        state: StateStore,
        cache: RoomCache,
        reader: RoomReader,
    ) -> None:
        self._db = db
        self._store = store
        self._events = events
        self._state = state
        self._cache = cache
        self._visibility = HistoryVisibility(db, state, cache)
        self._reader = reader

    async def on_persisted(self, events: Sequence[StoredEvent]) -> None:
        """Indexes a committed batch in a transaction of its own."""
        async with self._db.write() as txn:
            await self.index_in(txn, events)

    async def index_in(self, txn: Connection, events: Sequence[StoredEvent]) -> None:
        """Indexes a batch inside the transaction that persists it (the
        persister's ``in_transaction`` hook): an event and its index entries
        commit together."""
        texts: list[IndexedText] = []
        redacted: list[str] = []
        for stored in events:
            pdu = stored.pdu
            if stored.rejected_reason is not None:
                continue
            if pdu.type == "m.room.redaction" and pdu.redacts is not None:
                redacted.append(pdu.redacts)
            found = searchable_text(pdu.type, pdu.state_key, pdu.content)
            if found is None:
                continue
            texts.append(
                IndexedText(
                    event_id=pdu.event_id,
                    room_id=pdu.room_id,
                    stream_ordering=stored.stream_ordering,
                    sender=pdu.sender,
                    type=pdu.type,
                    key=found[0],
                    tokens=document_tokens(found[1]),
                )
            )
        if not texts and not redacted:
            return
        await self._store.index(txn, texts)
        await self._store.remove_redacted(txn, redacted)

    async def search(
        self, requester: Requester, body: JsonDict, next_batch: str | None
    ) -> JsonDict:
        """``POST /search``: the response body.

        Raises:
            BadJson: a malformed request body.
            InvalidParam: a ``next_batch`` this search did not issue.
        """
        crit = RoomEventsCriteria.parse(body)
        if crit is None:
            return {"search_categories": {}}
        cursor = _parse_batch(next_batch, crit.order_by)
        tokens = query_tokens(crit.search_term)
        if len(tokens) > MAX_QUERY_TOKENS:
            raise BadJson("'search_term' is too long")
        user_id = requester.user_id
        async with self._db.read() as conn:
            bounds = await self._store.searchable_rooms(conn, user_id)
        rooms = list(bounds)
        if crit.rooms is not None:
            wanted = set(crit.rooms)
            rooms = [r for r in rooms if r in wanted]
        excluded = set(crit.not_rooms)
        rooms = [r for r in rooms if r not in excluded]
        query = SearchQuery(
            tokens=tokens,
            room_ids=rooms,
            keys=crit.keys,
            types=crit.event_types(),
            senders=crit.senders,
            not_senders=crit.not_senders,
            order_by=crit.order_by,
            room_bounds={r: b for r in rooms if (b := bounds[r]) is not None},
        )
        async with self._db.read() as conn:
            count = await self._store.count(conn, query)
        found, last = await self._find(user_id, query, cursor, crit.limit)
        out: JsonDict = {"count": count, "results": []}
        if last is not None:
            out["next_batch"] = _encode_batch(crit.order_by, last)
        events = await self._reader.serialize(requester, [v for _, v in found])
        for (hit, visible), event in zip(found, events, strict=True):
            result: JsonDict = {"rank": hit.score / SCORE_SCALE, "result": event}
            if crit.context is not None:
                result["context"] = await self._context(requester, visible, crit.context)
            out["results"].append(result)
        out["highlights"] = self._highlights(crit.search_term, [v for _, v in found])
        if crit.group_by:
            out["groups"] = self._groups(crit.group_by, found, out.get("next_batch"))
        if crit.include_state:
            out["state"] = await self._room_states(requester, found)
        return {"search_categories": {"room_events": out}}

    async def _find(
        self,
        user_id: str,
        query: SearchQuery,
        cursor: tuple[int, int] | None,
        limit: int,
    ) -> tuple[list[tuple[SearchHit, VisibleEvent]], SearchHit | None]:
        """Up to ``limit`` visible hits after ``cursor``, and the hit the next
        page starts after: the last one looked at when the page is full (as
        Synapse, which may mean one last empty page) or when the index was
        not read to its end; None otherwise."""
        found: list[tuple[SearchHit, VisibleEvent]] = []
        for _ in range(_MAX_ROUNDS):
            page_size = max(limit - len(found), 1) * 2
            async with self._db.read() as conn:
                page = await self._store.search(conn, query, after=cursor, limit=page_size)
            visible = await self._visible(user_id, page)
            for hit in page:
                cursor = hit.cursor
                seen = visible.get(hit.event_id)
                if seen is not None:
                    found.append((hit, seen))
                if len(found) >= limit:
                    return found, hit
            if len(page) < page_size:
                return found, None
        return found, page[-1] if page else None

    async def _visible(self, user_id: str, hits: Sequence[SearchHit]) -> dict[str, VisibleEvent]:
        stored = await self._cache.events(h.event_id for h in hits)
        by_room: dict[str, list[StoredEvent]] = {}
        for hit in hits:
            event = stored.get(hit.event_id)
            if event is not None and event.redacted_by is None:
                by_room.setdefault(hit.room_id, []).append(event)
        out: dict[str, VisibleEvent] = {}
        for room_id, events in by_room.items():
            snapshot = await self._cache.room(room_id)
            joined = snapshot is not None and snapshot.membership_of(user_id) == "join"
            for seen in await self._visibility.filter(user_id, events, currently_joined=joined):
                out[seen.stored.pdu.event_id] = seen
        return out

    async def _context(
        self, requester: Requester, target: VisibleEvent, limits: tuple[int, int, bool]
    ) -> JsonDict:
        """Events around a result, as ``/context`` would give them."""
        before_limit, after_limit, include_profile = limits
        stored = target.stored
        room_id = stored.pdu.room_id
        key = stored.topo_key
        after_key = (key[0], key[1] + 1)
        async with self._db.read() as conn:
            before = await self._events.get_room_events_topological(
                conn, room_id, from_key=key, backwards=True, limit=before_limit
            )
            after = await self._events.get_room_events_topological(
                conn, room_id, from_key=after_key, backwards=False, limit=after_limit
            )
        snapshot = await self._cache.room(room_id)
        joined = snapshot is not None and snapshot.membership_of(requester.user_id) == "join"
        before_seen = await self._visibility.filter(
            requester.user_id, before, currently_joined=joined
        )
        after_seen = await self._visibility.filter(
            requester.user_id, after, currently_joined=joined
        )
        start = before[-1].topo_key if before else key
        end = after[-1].topo_key if after else key
        context: JsonDict = {
            "start": RoomPosition(start[0], start[1]).encode(),
            "end": RoomPosition(end[0], end[1] + 1).encode(),
            "events_before": await self._reader.serialize(requester, before_seen),
            "events_after": await self._reader.serialize(requester, after_seen),
        }
        if include_profile:
            senders = {e.stored.pdu.sender for e in (*before_seen, target, *after_seen)}
            context["profile_info"] = await self._profiles(stored, senders)
        return context

    async def _profiles(self, at: StoredEvent, senders: set[str]) -> JsonDict:
        """Display names and avatars of ``senders`` in the state at ``at``."""
        if at.state_group is None:
            return {}
        async with self._db.read() as conn:
            ids = await self._state.get_state_keys(
                conn, at.state_group, [("m.room.member", s) for s in sorted(senders)]
            )
        pdus = await self._cache.pdus(ids.values())
        out: JsonDict = {}
        for (_, user_id), event_id in ids.items():
            member = pdus.get(event_id)
            if member is None:
                continue
            profile = {
                k: member.content[k]
                for k in ("displayname", "avatar_url")
                if isinstance(member.content.get(k), str)
            }
            out[user_id] = profile
        return out

    @staticmethod
    def _highlights(term: str, found: Sequence[VisibleEvent]) -> list[str]:
        """The query's words, plus their spellings in the results' texts."""
        terms = query_terms(term)
        words = dict.fromkeys(terms)
        for seen in found:
            pdu = seen.stored.pdu
            text = searchable_text(pdu.type, pdu.state_key, pdu.content)
            if text is not None:
                words.update(dict.fromkeys(highlight_words(text[1], terms)))
        return list(words)

    @staticmethod
    def _groups(
        group_by: Sequence[str],
        found: Sequence[tuple[SearchHit, VisibleEvent]],
        next_batch: str | None,
    ) -> JsonDict:
        groups: JsonDict = {}
        for key in group_by:
            by_value: dict[str, JsonDict] = {}
            for _, seen in found:
                pdu = seen.stored.pdu
                value = pdu.room_id if key == "room_id" else pdu.sender
                group = by_value.setdefault(value, {"order": len(by_value) + 1, "results": []})
                group["results"].append(pdu.event_id)
                if next_batch is not None:
                    group["next_batch"] = next_batch
            groups[key] = by_value
        return groups

    async def _room_states(
        self, requester: Requester, found: Sequence[tuple[SearchHit, VisibleEvent]]
    ) -> JsonDict:
        states: JsonDict = {}
        for room_id in dict.fromkeys(hit.room_id for hit, _ in found):
            try:
                states[room_id] = await self._reader.get_state(requester, room_id)
            except Forbidden:
                continue
        return states
