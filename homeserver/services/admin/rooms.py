"""Server admin operations on rooms: listing and inspecting every room,
deleting (kick, block, purge), blocking, granting admin, history purges.

Room listing builds each room's summary from the current state the room
cache holds and filters and sorts in memory: fine for the number of rooms
one server admin pages through, and it needs no statistics tables.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from homeserver.core.errors import Codes, Forbidden, InvalidParam, MatrixError, NotFound
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.create import CreateRoomRequest
from homeserver.services.rooms.format import client_event
from homeserver.storage.db import Database
from homeserver.storage.stores.admin import AdminStore, AdminTask
from homeserver.storage.stores.directory import DirectoryStore

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: order_by values of the room list → summary key
ROOM_ORDER = {
    "name": "name",
    "canonical_alias": "canonical_alias",
    "joined_members": "joined_members",
    "joined_local_members": "joined_local_members",
    "version": "version",
    "creator": "creator",
    "encryption": "encryption",
    "federatable": "federatable",
    "public": "public",
    "join_rules": "join_rules",
    "guest_access": "guest_access",
    "history_visibility": "history_visibility",
    "state_events": "state_events",
    "room_id": "room_id",
}

_STATE_FIELDS: dict[str, tuple[str, str]] = {
    "m.room.name": ("name", "name"),
    "m.room.topic": ("topic", "topic"),
    "m.room.avatar": ("avatar", "url"),
    "m.room.canonical_alias": ("canonical_alias", "alias"),
    "m.room.join_rules": ("join_rules", "join_rule"),
    "m.room.guest_access": ("guest_access", "guest_access"),
    "m.room.history_visibility": ("history_visibility", "history_visibility"),
    "m.room.encryption": ("encryption", "algorithm"),
}


def _sort_key(value: Any) -> tuple[int, Any]:
    # None sorts last ascending; numbers and strings never mix within a key.
    if value is None:
        return (1, "")
    if isinstance(value, bool):
        return (0, int(value))
    return (0, value)


class RoomAdmin:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        server_name: str,
        rooms: Rooms,
        directory_store: DirectoryStore,
    ) -> None:
        self._db = db
        self._clock = clock
        self._server_name = server_name
        self._rooms = rooms
        self._directory = directory_store
        self._store = AdminStore()

    def _is_local(self, user_id: str) -> bool:
        return user_id.partition(":")[2] == self._server_name

    # --- reading -----------------------------------------------------------------

    async def summary(self, room_id: str) -> JsonDict:
        """The room as the admin room list shows it (404 when unknown)."""
        snapshot = await self._rooms.cache.room(room_id)
        async with self._db.read() as conn:
            row = await self._rooms.rooms_store.get_room(conn, room_id)
        if snapshot is None or row is None:
            raise NotFound("Room not found")
        state = dict(snapshot.state)
        out: JsonDict = {
            "room_id": room_id,
            "version": row.room_version,
            "creator": row.creator,
            "public": row.is_public,
            "state_events": len(state),
            "room_type": None,
        }
        for field, _ in _STATE_FIELDS.values():
            out[field] = None
        wanted = {k: v for k, v in state.items() if k[0] in _STATE_FIELDS and k[1] == ""}
        wanted_create = state.get(("m.room.create", ""))
        pdus = await self._rooms.cache.pdus(
            list(wanted.values()) + ([wanted_create] if wanted_create else [])
        )
        for (event_type, _), event_id in wanted.items():
            pdu = pdus.get(event_id)
            if pdu is None:
                continue
            field, key = _STATE_FIELDS[event_type]
            value = pdu.content.get(key)
            out[field] = value if isinstance(value, str) else None
        create = pdus.get(wanted_create) if wanted_create else None
        out["federatable"] = True
        if create is not None:
            out["federatable"] = create.content.get("m.federate", True) is not False
            room_type = create.content.get("type")
            out["room_type"] = room_type if isinstance(room_type, str) else None
        joined = [u for u, m in snapshot.memberships.items() if m == "join"]
        out["joined_members"] = len(joined)
        out["joined_local_members"] = sum(1 for u in joined if self._is_local(u))
        return out

    async def details(self, room_id: str) -> JsonDict:
        out = await self.summary(room_id)
        joined_local = [
            u
            for u, m in (await self._snapshot(room_id)).memberships.items()
            if m == "join" and self._is_local(u)
        ]
        devices = 0
        async with self._db.read() as conn:
            for user_id in joined_local:
                devices += int(
                    await conn.fetchval("SELECT COUNT(*) FROM devices WHERE user_id = $1", user_id)
                )
            out["forgotten"] = (
                await conn.fetchval(
                    "SELECT 1 FROM room_memberships WHERE room_id = $1 AND forgotten = $2 LIMIT 1",
                    room_id,
                    False,
                )
                is None
            )
        out["joined_local_devices"] = devices
        return out

    async def _snapshot(self, room_id: str) -> Any:
        snapshot = await self._rooms.cache.room(room_id)
        if snapshot is None:
            raise NotFound("Room not found")
        return snapshot

    async def list_rooms(
        self,
        *,
        offset: int,
        limit: int,
        order_by: str,
        descending: bool,
        search_term: str | None,
    ) -> JsonDict:
        """A page of rooms; ``next_batch``/``prev_batch`` are offsets."""
        async with self._db.read() as conn:
            room_ids = await self._store.all_room_ids(conn)
        summaries = []
        for room_id in room_ids:
            try:
                summaries.append(await self.summary(room_id))
            except NotFound:
                continue
        if search_term:
            term = search_term.lower()
            summaries = [
                s
                for s in summaries
                if term in s["room_id"].lower()
                or term in (s["name"] or "").lower()
                or term in (s["canonical_alias"] or "").lower()
            ]
        key = ROOM_ORDER.get(order_by, "name")
        # Synapse's default order is by size, largest first.
        if order_by == "size":
            key = "joined_members"
        summaries.sort(key=lambda s: (_sort_key(s[key]), s["room_id"]), reverse=descending)
        total = len(summaries)
        page = summaries[offset : offset + limit]
        out: JsonDict = {"rooms": page, "offset": offset, "total_rooms": total}
        if offset + len(page) < total:
            out["next_batch"] = offset + len(page)
        if offset > 0:
            out["prev_batch"] = max(0, offset - limit)
        return out

    async def members(self, room_id: str) -> JsonDict:
        snapshot = await self._snapshot(room_id)
        joined = sorted(u for u, m in snapshot.memberships.items() if m == "join")
        return {"members": joined, "total": len(joined)}

    async def state(self, room_id: str) -> list[JsonDict]:
        snapshot = await self._snapshot(room_id)
        found = await self._rooms.cache.events(dict(snapshot.state).values())
        now = self._clock.time_ms()
        ordered = sorted(found.values(), key=lambda e: e.stream_ordering)
        return [client_event(e.pdu, now_ms=now) for e in ordered]

    async def messages(
        self, room_id: str, *, from_token: str | None, backwards: bool, limit: int
    ) -> JsonDict:
        """A page of the room's history, whatever the admin's membership.

        Tokens are ``a{depth}_{stream_ordering}``, the topological key of the
        first event after the gap.
        """
        await self._snapshot(room_id)
        async with self._db.read() as conn:
            if from_token is not None:
                from_key = _parse_token(from_token)
            elif backwards:
                newest = await self._rooms.events_store.max_topo_key(conn, room_id)
                from_key = (newest[0], newest[1] + 1) if newest else (0, 0)
            else:
                from_key = (0, 0)
            page = await self._rooms.events_store.get_room_events_topological(
                conn, room_id, from_key=from_key, backwards=backwards, limit=limit
            )
        now = self._clock.time_ms()
        out: JsonDict = {
            "start": from_token or _token(from_key),
            "chunk": [client_event(e.pdu, now_ms=now) for e in page],
        }
        if len(page) == limit and page:
            last = page[-1].topo_key
            out["end"] = _token(last if backwards else (last[0], last[1] + 1))
        return out

    async def forward_extremities(self, room_id: str) -> list[JsonDict]:
        await self._snapshot(room_id)
        async with self._db.read() as conn:
            ids = await self._rooms.state_store.get_forward_extremities(conn, room_id)
        found = await self._rooms.cache.events(ids)
        return [
            {
                "event_id": e,
                "state_group": found[e].state_group if e in found else None,
                "depth": found[e].pdu.depth if e in found else None,
                "received_ts": None,
            }
            for e in ids
        ]

    async def delete_forward_extremities(self, room_id: str) -> int:
        """Keeps only the newest forward extremity (Synapse's repair for rooms
        with too many); returns how many were removed."""
        await self._snapshot(room_id)
        rooms = self._rooms
        async with rooms.locks.hold(room_id):
            async with self._db.read() as conn:
                ids = await rooms.state_store.get_forward_extremities(conn, room_id)
            found = await rooms.cache.events(ids)
            if len(found) < 2:
                return 0
            newest = max(found.values(), key=lambda e: e.stream_ordering).pdu.event_id
            async with self._db.write() as txn:
                await rooms.state_store.set_forward_extremities(txn, room_id, [newest])
            rooms.cache.drop_room(room_id)
        return len(ids) - 1

    async def timestamp_to_event(self, room_id: str, ts: int, *, forwards: bool) -> JsonDict:
        await self._snapshot(room_id)
        async with self._db.read() as conn:
            rows = await self._directory.events_by_ts(
                conn, room_id, ts, forwards=forwards, limit=1, after=None
            )
        if not rows:
            raise NotFound("No event found in that direction")
        stored = await self._rooms.cache.event(rows[0][0])
        if stored is None:
            raise NotFound("No event found in that direction")
        return {"event_id": stored.pdu.event_id, "origin_server_ts": stored.pdu.origin_server_ts}

    # --- blocking ----------------------------------------------------------------

    async def block_status(self, room_id: str) -> JsonDict:
        async with self._db.read() as conn:
            by = await self._store.get_block(conn, room_id)
        out: JsonDict = {"block": by is not None}
        if by is not None:
            out["user_id"] = by
        return out

    async def set_block(self, admin: Requester, room_id: str, block: bool) -> None:
        async with self._db.write() as txn:
            await self._store.set_block(txn, room_id, admin.user_id if block else None)

    async def is_blocked(self, room_id: str) -> bool:
        async with self._db.read() as conn:
            return await self._store.get_block(conn, room_id) is not None

    # --- granting admin ------------------------------------------------------------

    async def make_room_admin(self, room_id: str, user_id: str) -> None:
        """Gives ``user_id`` the highest power level of the room, sent by the
        local member who has it; invites the user when not joined and the
        room is not public.

        Raises:
            NotFound: unknown room.
            InvalidParam: no joined local user can grant it.
        """
        snapshot = await self._snapshot(room_id)
        pl_id = snapshot.state.get(("m.room.power_levels", ""))
        pdus = await self._rooms.cache.pdus([pl_id] if pl_id else [])
        content = dict(pdus[pl_id].content) if pl_id in pdus else {}
        users = dict(content.get("users") or {})
        joined_local = [
            u for u, m in snapshot.memberships.items() if m == "join" and self._is_local(u)
        ]

        def level_of(user: str) -> int:
            value = users.get(user)
            return value if isinstance(value, int) else 0

        candidates = sorted(joined_local, key=lambda u: -level_of(u))
        if not candidates:
            raise InvalidParam("No local admin user in room")
        granter = candidates[0]
        level = users.get(granter, 0)
        if not isinstance(level, int):
            level = 0
        if granter != user_id:
            users[user_id] = level
            content["users"] = users
            try:
                await self._rooms.send.send(
                    granter, room_id, "m.room.power_levels", content, state_key=""
                )
            except Forbidden as e:
                raise InvalidParam(f"No local admin user in room: {e.message}") from e
        if snapshot.membership_of(user_id) != "join":
            join_rule_id = snapshot.state.get(("m.room.join_rules", ""))
            rules = await self._rooms.cache.pdus([join_rule_id] if join_rule_id else [])
            rule = rules[join_rule_id].content.get("join_rule") if join_rule_id in rules else None
            if rule != "public" and snapshot.membership_of(user_id) != "invite":
                await self._rooms.membership.invite(
                    Requester(user_id=granter, device_id=None), room_id, user_id
                )

    async def join_user(self, room_id_or_alias: str, user_id: str) -> str:
        """Joins a local user to a room as POST /_synapse/admin/v1/join does."""
        return await self._rooms.membership.join(
            Requester(user_id=user_id, device_id=None), room_id_or_alias
        )

    # --- deletion ------------------------------------------------------------------

    async def delete_room(
        self,
        admin: Requester,
        room_id: str,
        *,
        new_room_user_id: str | None,
        room_name: str | None,
        message: str | None,
        block: bool,
        purge: bool,
        force_purge: bool,
        task_id: str | None = None,
    ) -> JsonDict:
        """Removes every local member, optionally moves them to a new room,
        blocks the room, and deletes its rows.

        Returns:
            ``kicked_users``, ``failed_to_kick_users``, ``local_aliases``,
            ``new_room_id``.
        """
        snapshot = await self._rooms.cache.room(room_id)
        task = AdminTask(
            task_id or secrets.token_urlsafe(12),
            "delete_room",
            room_id,
            "active",
            None,
            None,
            self._clock.time_ms(),
        )
        async with self._db.write() as txn:
            await self._store.put_task(txn, task)
            if block:
                await self._store.set_block(txn, room_id, admin.user_id)
        try:
            result = await self._shutdown(
                snapshot, room_id, new_room_user_id, room_name, message, purge, force_purge
            )
        except MatrixError as e:
            await self._finish(task, "failed", None, e.message)
            raise
        await self._finish(task, "complete", result, None)
        return {"delete_id": task.task_id, **result}

    async def _finish(
        self, task: AdminTask, status: str, result: JsonDict | None, error: str | None
    ) -> None:
        done = AdminTask(
            task.task_id, task.kind, task.room_id, status, result, error, task.created_ts
        )
        async with self._db.write() as txn:
            await self._store.put_task(txn, done)

    async def _shutdown(
        self,
        snapshot: Any,
        room_id: str,
        new_room_user_id: str | None,
        room_name: str | None,
        message: str | None,
        purge: bool,
        force_purge: bool,
    ) -> JsonDict:
        kicked: list[str] = []
        failed: list[str] = []
        new_room_id: str | None = None
        aliases: list[str] = []
        if snapshot is not None:
            local_members = sorted(
                u
                for u, m in snapshot.memberships.items()
                if m in ("join", "invite", "knock") and self._is_local(u)
            )
            if new_room_user_id is not None:
                creator = Requester(user_id=new_room_user_id, device_id=None)
                request = CreateRoomRequest.from_json(
                    {
                        "preset": "public_chat",
                        "name": room_name or "Content Violation Notification",
                        "power_level_content_override": {"users_default": -10},
                    }
                )
                new_room_id, _ = await self._rooms.create.create_room(creator, request)
                await self._rooms.send.send(
                    new_room_user_id,
                    new_room_id,
                    "m.room.message",
                    {
                        "msgtype": "m.text",
                        "body": message
                        or "Sharing illegal content on this server is not permitted "
                        "and rooms in violation will be blocked.",
                    },
                )
            for user_id in local_members:
                member = Requester(user_id=user_id, device_id=None)
                try:
                    await self._rooms.membership.leave(member, room_id)
                    if new_room_id is not None and user_id != new_room_user_id:
                        await self._rooms.membership.join(member, new_room_id)
                    kicked.append(user_id)
                except MatrixError:
                    logger.warning("could not remove %s from %s", user_id, room_id)
                    failed.append(user_id)
            async with self._db.read() as conn:
                aliases = await self._rooms.rooms_store.aliases_of_room(conn, room_id)
        if purge:
            if failed and not force_purge:
                raise MatrixError(
                    "Some local users could not be removed; retry with force_purge",
                    code=Codes.UNKNOWN,
                    status=400,
                )
            async with self._rooms.locks.hold(room_id):
                async with self._db.write() as txn:
                    counts = await self._store.purge_room(txn, room_id)
                self._rooms.cache.drop_room(room_id)
            logger.info("Purged room %s: %s", room_id, counts)
        return {
            "kicked_users": kicked,
            "failed_to_kick_users": failed,
            "local_aliases": aliases,
            "new_room_id": new_room_id,
        }

    async def delete_status(self, *, room_id: str | None, delete_id: str | None) -> JsonDict:
        """``{"results": [...]}`` for a room, or one task by id (404 when unknown)."""
        async with self._db.read() as conn:
            if delete_id is not None:
                one = await self._store.get_task(conn, delete_id)
                tasks = [one] if one is not None and one.kind == "delete_room" else []
            else:
                assert room_id is not None
                tasks = await self._store.tasks_for_room(conn, room_id, "delete_room")
        if not tasks:
            raise NotFound("No delete task found")
        results = []
        for t in tasks:
            entry: JsonDict = {
                "delete_id": t.task_id,
                "room_id": t.room_id,
                "status": t.status,
                "shutdown_room": {k: v for k, v in (t.result or {}).items() if k != "delete_id"},
            }
            if t.error is not None:
                entry["error"] = t.error
            results.append(entry)
        if delete_id is not None:
            return results[0]
        return {"results": results}

    # --- history purge ---------------------------------------------------------------

    async def purge_history(
        self, room_id: str, *, before_event_id: str | None, before_ts: int | None
    ) -> str:
        """Deletes the room's non-state events before an event or a time;
        returns the purge id."""
        await self._snapshot(room_id)
        async with self._db.read() as conn:
            if before_event_id is not None:
                stored = await self._rooms.cache.event(before_event_id)
                if stored is None or stored.pdu.room_id != room_id:
                    raise NotFound("Event not found")
                before = stored.stream_ordering
            else:
                assert before_ts is not None
                value = await conn.fetchval(
                    "SELECT MIN(stream_ordering) FROM events WHERE room_id = $1 "
                    "AND origin_server_ts >= $2",
                    room_id,
                    before_ts,
                )
                before = int(value) if value is not None else (1 << 62)
        task = AdminTask(
            secrets.token_urlsafe(12), "purge_history", room_id, "active", None, None, 0
        )
        # Keep the newest event: it is a forward extremity the room builds on.
        async with self._db.read() as conn:
            newest = await self._rooms.events_store.max_topo_key(conn, room_id)
        if newest is not None:
            before = min(before, newest[1])
        async with self._rooms.locks.hold(room_id), self._db.write() as txn:
            await self._store.put_task(txn, task)
            deleted = await self._store.purge_history_before(txn, room_id, before)
        await self._finish(task, "complete", {"deleted_events": deleted}, None)
        return task.task_id

    async def purge_status(self, purge_id: str) -> JsonDict:
        async with self._db.read() as conn:
            task = await self._store.get_task(conn, purge_id)
        if task is None or task.kind != "purge_history":
            raise NotFound("Purge not found")
        out: JsonDict = {"status": task.status}
        if task.error:
            out["error"] = task.error
        return out


def _token(key: tuple[int, int]) -> str:
    return f"a{key[0]}_{key[1]}"


def _parse_token(token: str) -> tuple[int, int]:
    depth, sep, stream = token[1:].partition("_")
    if not token.startswith("a") or not sep:
        raise InvalidParam("Invalid pagination token")
    try:
        return int(depth), int(stream)
    except ValueError as e:
        raise InvalidParam("Invalid pagination token") from e
