"""User directory search (``POST /user_directory/search``) and user reports.

Who can be found, as Synapse does by default: users who share a joined room
with the searcher, and users joined to a public room (join rule ``public``
or history visibility ``world_readable``). With
``user_directory.search_all_users`` every local user can be found too.
Deactivated accounts never appear, nor does the searcher, unless through a
public room they are joined to (Synapse's rules).

The set of public rooms is kept in memory: built on the first search and
dropped whenever a join rules or history visibility event commits (the
persister's after-commit hook), so it is rebuilt on the next search.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from homeserver.config.model import Config
from homeserver.core.errors import InvalidParam, NotFound
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.storage.db import Database
from homeserver.storage.stores.accounts import AccountStore
from homeserver.storage.stores.events import StoredEvent
from homeserver.storage.stores.user_directory import (
    DirectoryUser,
    UserDirectoryStore,
    UserReport,
    like_pattern,
)

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
#: Longest search term looked at, in characters.
MAX_TERM_LEN = 256
#: Longest report reason kept, in characters.
MAX_REASON_LEN = 4096

_PUBLIC_STATE_TYPES = frozenset({"m.room.join_rules", "m.room.history_visibility"})


def _is_public(content_by_type: dict[str, object]) -> bool:
    join_rules = content_by_type.get("m.room.join_rules")
    history = content_by_type.get("m.room.history_visibility")
    return (isinstance(join_rules, dict) and join_rules.get("join_rule") == "public") or (
        isinstance(history, dict) and history.get("history_visibility") == "world_readable"
    )


def _rank(user: DirectoryUser, term: str) -> tuple[int, str]:
    """Sort key: a match at the start of the localpart or of a word of the
    display name comes first, then the rest, each by user id."""
    localpart = user.user_id[1:].lower()
    words = (user.display_name or "").lower().split()
    prefix = localpart.startswith(term) or any(w.startswith(term) for w in words)
    return (0 if prefix else 1, user.user_id)


class UserDirectoryService:
    def __init__(self, db: Database, config: Config, clock: Clock) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._store = UserDirectoryStore()
        self._accounts = AccountStore()
        self._public_rooms: frozenset[str] | None = None
        #: bumped on every invalidation, so a rebuild that raced one is not kept
        self._generation = 0
        #: rooms per page of /mutual_rooms
        self.mutual_rooms_page = 100

    @property
    def store(self) -> UserDirectoryStore:
        return self._store

    async def on_persisted(self, events: Sequence[StoredEvent]) -> None:
        """After-commit hook: forget the public rooms when one may have changed."""
        if any(e.pdu.state_key == "" and e.pdu.type in _PUBLIC_STATE_TYPES for e in events):
            self._public_rooms = None
            self._generation += 1

    async def search(self, requester: Requester, term: str, limit: int | None) -> dict[str, object]:
        """Users matching ``term`` that the requester may find.

        Returns:
            ``{"results": [...], "limited": bool}``: ``limited`` is true when
            more users matched than ``limit``.

        Raises:
            InvalidParam: a limit below 1.
        """
        limit = DEFAULT_LIMIT if limit is None else limit
        if limit < 1:
            raise InvalidParam("'limit' must be at least 1")
        limit = min(limit, MAX_LIMIT)
        term = term.strip()[:MAX_TERM_LEN].replace("\x00", "")
        if not term:
            return {"results": [], "limited": False}
        pattern = like_pattern(term)
        public = await self._public()
        search_all = self._config.user_directory.search_all_users
        async with self._db.read() as conn:
            joined = set(await self._store.joined_rooms(conn, requester.user_id))
            rooms = joined | public
            found = await self._store.search_in_rooms(conn, pattern, sorted(rooms), limit + 2)
            if search_all:
                found += await self._store.search_local_users(conn, pattern, limit + 2)
        unique = {u.user_id: u for u in found}
        # As Synapse: sharing a room with yourself does not count, so the
        # searcher is found only through a public room they are in (and never
        # with search_all_users).
        if search_all or not joined & public:
            unique.pop(requester.user_id, None)
        ranked = sorted(unique.values(), key=lambda u: _rank(u, term.lower()))
        results = []
        for user in ranked[:limit]:
            item: dict[str, object] = {"user_id": user.user_id}
            if user.display_name is not None:
                item["display_name"] = user.display_name
            if user.avatar_url is not None:
                item["avatar_url"] = user.avatar_url
            results.append(item)
        return {"results": results, "limited": len(ranked) > limit}

    async def _public(self) -> frozenset[str]:
        cached = self._public_rooms
        if cached is not None:
            return cached
        generation = self._generation
        async with self._db.read() as conn:
            rows = await self._store.public_room_state(conn)
        contents: dict[str, dict[str, object]] = {}
        for room_id, raw in rows:
            try:
                pdu = json.loads(raw)
            except ValueError:
                continue
            if isinstance(pdu, dict) and isinstance(pdu.get("type"), str):
                contents.setdefault(room_id, {})[pdu["type"]] = pdu.get("content")
        public = frozenset(r for r, c in contents.items() if _is_public(c))
        if generation == self._generation:
            self._public_rooms = public
        return public

    # --- mutual rooms --------------------------------------------------------------

    async def mutual_rooms(
        self, requester: Requester, user_id: str, from_token: str | None
    ) -> dict[str, object]:
        """Rooms both the requester and ``user_id`` are joined to, a page at a time.

        The token is the offset into the list sorted by room id.

        Returns:
            ``{"joined": [...], "count": total}`` plus ``next_batch`` when more follow.

        Raises:
            InvalidParam: ``user_id`` is the requester, or a malformed token.
        """
        if user_id == requester.user_id:
            raise InvalidParam("Cannot look up mutual rooms with yourself")
        offset = 0
        if from_token is not None:
            digits = from_token[1:]
            if not from_token.startswith("m") or not digits.isdigit() or len(digits) > 9:
                raise InvalidParam("Invalid 'from' token")
            offset = int(digits)
        async with self._db.read() as conn:
            rooms = await self._store.mutual_rooms(conn, requester.user_id, user_id)
        page = rooms[offset : offset + self.mutual_rooms_page]
        out: dict[str, object] = {"joined": page, "count": len(rooms)}
        if offset + self.mutual_rooms_page < len(rooms):
            out["next_batch"] = f"m{offset + self.mutual_rooms_page}"
        return out

    # --- user reports --------------------------------------------------------------

    async def report_user(self, requester: Requester, target_user_id: str, reason: str) -> None:
        """Stores a report of a local user for the server's admins.

        Raises:
            InvalidParam: the reason is too long or holds NUL.
            NotFound: no such local user.
        """
        if len(reason) > MAX_REASON_LEN or "\x00" in reason:
            raise InvalidParam(f"'reason' must be under {MAX_REASON_LEN} characters, without NUL")
        async with self._db.read() as conn:
            known = await self._accounts.exists(conn, target_user_id)
        if not known:
            raise NotFound("The user was not found")
        async with self._db.write() as txn:
            report_id = await self._store.insert_user_report(
                txn, target_user_id, requester.user_id, reason, self._clock.time_ms()
            )
        logger.info("user report %d from %s about %s", report_id, requester.user_id, target_user_id)

    async def user_reports(self, limit: int = 100) -> list[UserReport]:
        """The newest user reports, for admins."""
        async with self._db.read() as conn:
            return await self._store.list_user_reports(conn, limit)
