"""Profile changes reach the rooms: a new displayname or avatar_url is sent
as an updated ``m.room.member`` join event into every room the user is
joined to.

The member event keeps its other content; ``join_authorised_via_users_server``
and ``reason`` belong to the original join and are dropped. A room that
rejects the event (the auth rules, a room being torn down) is logged and
skipped; the profile change itself has already succeeded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from homeserver.core.errors import MatrixError
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.cache import RoomSnapshot
from homeserver.services.rooms.send import Unchanged
from homeserver.storage.db import Database
from homeserver.storage.stores.profiles import ProfileStore

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

_DROPPED = ("join_authorised_via_users_server", "reason")


class ProfilePropagator:
    def __init__(self, db: Database, rooms: Rooms, profiles: ProfileStore | None = None) -> None:
        self._db = db
        self._rooms = rooms
        self._profiles = profiles or ProfileStore()

    async def on_profile_changed(self, user_id: str) -> None:
        """Sends the user's current profile into each room they are joined to."""
        async with self._db.read() as conn:
            profile = await self._profiles.get(conn, user_id)
            rooms = await self._rooms.state_store.rooms_for_user(conn, user_id, ("join",))
        fields: JsonDict = {
            "displayname": profile.displayname if profile is not None else None,
            "avatar_url": profile.avatar_url if profile is not None else None,
        }
        for room_id in sorted(rooms):
            try:
                await self._update_room(user_id, room_id, fields)
            except MatrixError as e:
                logger.info("profile of %s not sent to %s: %s", user_id, room_id, e.message)

    async def _update_room(self, user_id: str, room_id: str, fields: JsonDict) -> None:
        key = ("m.room.member", user_id)

        async def prepare(snapshot: RoomSnapshot) -> Mapping[str, Any] | None:
            current_id = snapshot.state.get(key)
            current = await self._rooms.cache.event(current_id) if current_id else None
            if current is None or current.pdu.membership != "join":
                # Left meanwhile: nothing to update.
                raise Unchanged(current_id) if current_id else _NotJoined()
            content = {k: v for k, v in current.pdu.content.items() if k not in _DROPPED}
            for name, value in fields.items():
                if value is None:
                    content.pop(name, None)
                else:
                    content[name] = value
            if content == current.pdu.content:
                raise Unchanged(current.pdu.event_id)
            return content

        try:
            await self._rooms.send.send(
                user_id,
                room_id,
                "m.room.member",
                {"membership": "join"},
                state_key=user_id,
                prepare=prepare,
            )
        except _NotJoined:
            return


class _NotJoined(Exception):
    """The user has no member event in the room any more."""
