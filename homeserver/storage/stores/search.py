"""The search index: ``event_search`` and ``event_search_tokens``.

One row per indexed event (its searched key, sender, type and token count)
and one row per (event, token) with the token's number of occurrences. The
tokens come from ``homeserver.core.search_tokens``; this store never
tokenises. A query asks for the events holding *every* query token
(``GROUP BY event HAVING COUNT(*) = number of tokens``), which is the same
SQL, and the same answer, on SQLite and PostgreSQL.

Score: ``SCORE_SCALE * occurrences of the query tokens / tokens in the
text``, an integer so that pagination keys compare exactly; a short text
made mostly of the query scores highest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from homeserver.storage.db import Connection

SCORE_SCALE = 1_000_000


@dataclass(frozen=True, slots=True)
class IndexedText:
    event_id: str
    room_id: str
    stream_ordering: int
    sender: str
    type: str
    #: ``content.body``, ``content.name`` or ``content.topic``
    key: str
    #: token → occurrences in the text
    tokens: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    #: distinct tokens, all required; never empty
    tokens: Sequence[str]
    room_ids: Sequence[str]
    keys: Sequence[str]
    types: Sequence[str]
    senders: Sequence[str] | None = None
    not_senders: Sequence[str] = ()
    #: "rank" (score, then newest) or "recent" (newest first)
    order_by: str = "rank"
    #: rooms of ``room_ids`` whose matches stop at this stream ordering
    #: (inclusive): rooms the searcher left see nothing after the leave
    room_bounds: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchHit:
    event_id: str
    room_id: str
    stream_ordering: int
    score: int

    @property
    def cursor(self) -> tuple[int, int]:
        """The hit's sort key; the next page starts strictly after it."""
        return (self.score, self.stream_ordering)


class _Args:
    """Collects positional SQL arguments and hands out ``$n`` placeholders."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def add(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def many(self, values: Iterable[object]) -> str:
        return ", ".join(self.add(v) for v in values)


class SearchStore:
    """The token index. Every method takes the connection first."""

    async def index(self, txn: Connection, texts: Sequence[IndexedText]) -> None:
        """Adds events to the index (an event already there is left alone)."""
        for text in texts:
            if not text.tokens:
                continue
            inserted = await txn.execute(
                "INSERT INTO event_search (event_id, room_id, stream_ordering, sender, type, "
                "search_key, token_count) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (event_id) DO NOTHING",
                text.event_id,
                text.room_id,
                text.stream_ordering,
                text.sender,
                text.type,
                text.key,
                sum(text.tokens.values()),
            )
            if inserted == 0:  # already indexed (-1: the driver cannot tell)
                continue
            await txn.executemany(
                "INSERT INTO event_search_tokens (token, room_id, stream_ordering, event_id, "
                "occurrences) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id, token) DO NOTHING",
                [
                    (token, text.room_id, text.stream_ordering, text.event_id, n)
                    for token, n in text.tokens.items()
                ],
            )

    async def remove_redacted(self, txn: Connection, event_ids: Iterable[str]) -> None:
        """Drops from the index those of ``event_ids`` that are now redacted."""
        for event_id in dict.fromkeys(event_ids):
            redacted = await txn.fetchval(
                "SELECT redacted_by FROM events WHERE event_id = $1", event_id
            )
            if redacted is None:
                continue
            await txn.execute("DELETE FROM event_search_tokens WHERE event_id = $1", event_id)
            await txn.execute("DELETE FROM event_search WHERE event_id = $1", event_id)

    async def searchable_rooms(self, conn: Connection, user_id: str) -> dict[str, int | None]:
        """The rooms the user is or once was joined to and has not forgotten.

        Returns:
            room id → the stream ordering of the user's latest membership
            when it is not a join (nothing after it was theirs to see), or
            None while they are joined.
        """
        rows = await conn.fetch(
            "SELECT room_id, membership, stream_ordering, forgotten FROM room_memberships "
            "WHERE user_id = $1 ORDER BY stream_ordering",
            user_id,
        )
        ever_joined: set[str] = set()
        latest: dict[str, tuple[str, int, bool]] = {}
        for r in rows:
            room_id = str(r["room_id"])
            if r["membership"] == "join":
                ever_joined.add(room_id)
            latest[room_id] = (
                str(r["membership"]),
                int(r["stream_ordering"]),
                bool(r["forgotten"]),
            )
        out: dict[str, int | None] = {}
        for room_id in sorted(ever_joined):
            membership, stream_ordering, forgotten = latest[room_id]
            if not forgotten:
                out[room_id] = None if membership == "join" else stream_ordering
        return out

    def _matches(self, query: SearchQuery, args: _Args) -> str:
        """SQL selecting ``event_id, stream_ordering, room_id, score`` of every match."""
        sql = (
            "SELECT m.event_id, m.stream_ordering, d.room_id, "
            f"m.hits * {SCORE_SCALE} / d.token_count AS score FROM ("
            "SELECT t.event_id, MAX(t.stream_ordering) AS stream_ordering, "
            "SUM(t.occurrences) AS hits FROM event_search_tokens t "
            f"WHERE t.token IN ({args.many(query.tokens)}) "
            f"AND {self._rooms_condition(query, args)} "
            f"GROUP BY t.event_id HAVING COUNT(*) = {args.add(len(query.tokens))}"
            ") m JOIN event_search d ON d.event_id = m.event_id "
            "JOIN events e ON e.event_id = m.event_id "
            # Redacted events leave the index when the redaction commits; this
            # also hides one redacted in between.
            "WHERE e.redacted_by IS NULL "
            f"AND d.search_key IN ({args.many(query.keys)}) "
            f"AND d.type IN ({args.many(query.types)})"
        )
        if query.senders is not None:
            sql += f" AND d.sender IN ({args.many(query.senders)})"
        if query.not_senders:
            sql += f" AND d.sender NOT IN ({args.many(query.not_senders)})"
        return sql

    @staticmethod
    def _rooms_condition(query: SearchQuery, args: _Args) -> str:
        """``t.room_id`` among the query's rooms, bounded ones up to their bound."""
        unbounded = [r for r in query.room_ids if r not in query.room_bounds]
        terms = [f"t.room_id IN ({args.many(unbounded)})"] if unbounded else []
        for room_id in query.room_ids:
            bound = query.room_bounds.get(room_id)
            if bound is not None:
                terms.append(
                    f"(t.room_id = {args.add(room_id)} AND t.stream_ordering <= {args.add(bound)})"
                )
        return "(" + " OR ".join(terms) + ")"

    @staticmethod
    def _empty(query: SearchQuery) -> bool:
        return not (query.tokens and query.room_ids and query.keys and query.types) or (
            query.senders is not None and not query.senders
        )

    async def search(
        self,
        conn: Connection,
        query: SearchQuery,
        *,
        after: tuple[int, int] | None,
        limit: int,
    ) -> list[SearchHit]:
        """One page of matches in the query's order.

        Args:
            conn: a read connection.
            query: what to match.
            after: the ``cursor`` of the last hit of the previous page
                (exclusive); None for the first page.
            limit: at most this many hits.
        """
        if self._empty(query):
            return []
        args = _Args()
        matches = self._matches(query, args)
        sql = f"SELECT event_id, stream_ordering, room_id, score FROM ({matches}) x"
        if query.order_by == "recent":
            if after is not None:
                sql += f" WHERE stream_ordering < {args.add(after[1])}"
            sql += " ORDER BY stream_ordering DESC"
        else:
            if after is not None:
                score, stream = args.add(after[0]), args.add(after[1])
                sql += f" WHERE (score, stream_ordering) < ({score}, {stream})"
            sql += " ORDER BY score DESC, stream_ordering DESC"
        sql += f" LIMIT {int(limit)}"
        rows = await conn.fetch(sql, *args.values)
        return [
            SearchHit(
                event_id=str(r["event_id"]),
                room_id=str(r["room_id"]),
                stream_ordering=int(r["stream_ordering"]),
                score=int(r["score"]),
            )
            for r in rows
        ]

    async def count(self, conn: Connection, query: SearchQuery) -> int:
        """How many events match (before history visibility: an estimate)."""
        if self._empty(query):
            return 0
        args = _Args()
        value = await conn.fetchval(
            f"SELECT COUNT(*) FROM ({self._matches(query, args)}) x", *args.values
        )
        return int(value or 0)
