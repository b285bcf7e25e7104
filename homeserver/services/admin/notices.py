"""Server notices: messages from the server to one user, in a room of their
own that a system user (``@server:<server_name>``) creates on first use.

The room is kept per user; when the user has left it, the next notice
invites them back.
"""

from __future__ import annotations

import logging
from typing import Any

from homeserver.core.errors import NotFound
from homeserver.services.accounts.registration import RegistrationService
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.create import CreateRoomRequest
from homeserver.storage.db import Database
from homeserver.storage.stores.accounts import AccountStore
from homeserver.storage.stores.admin import AdminStore

logger = logging.getLogger(__name__)

#: Localpart of the user that sends server notices.
SYSTEM_LOCALPART = "server"
ROOM_NAME = "Server Notices"


class ServerNotices:
    def __init__(
        self,
        db: Database,
        server_name: str,
        rooms: Rooms,
        registration: RegistrationService,
        system_localpart: str = SYSTEM_LOCALPART,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._registration = registration
        self._localpart = system_localpart
        self.system_user_id = f"@{system_localpart}:{server_name}"
        self._server_name = server_name
        self._store = AdminStore()
        self._accounts = AccountStore()

    async def _ensure_system_user(self) -> None:
        async with self._db.read() as conn:
            exists = await self._accounts.exists(conn, self.system_user_id)
        if not exists:
            await self._registration.register_user(
                self._localpart, None, user_type="support", displayname="Server Notices"
            )

    async def notice_room(self, user_id: str) -> str:
        """The user's notices room, created (and the user invited) when needed.

        Raises:
            NotFound: not a local, active account.
        """
        async with self._db.read() as conn:
            account = await self._accounts.get(conn, user_id)
            room_id = await self._store.notice_room(conn, user_id)
        if account is None or account.deactivated:
            raise NotFound("User not found")
        await self._ensure_system_user()
        system = Requester(user_id=self.system_user_id, device_id=None)
        snapshot = await self._rooms.cache.room(room_id) if room_id is not None else None
        if snapshot is None or snapshot.membership_of(self.system_user_id) != "join":
            request = CreateRoomRequest.from_json(
                {
                    "preset": "private_chat",
                    "name": ROOM_NAME,
                    "invite": [user_id],
                    "power_level_content_override": {"users_default": -10},
                }
            )
            room_id, _ = await self._rooms.create.create_room(system, request)
            async with self._db.write() as txn:
                await self._store.set_notice_room(txn, user_id, room_id)
            logger.info("Created server notices room %s for %s", room_id, user_id)
            return room_id
        assert room_id is not None
        if snapshot.membership_of(user_id) not in ("join", "invite"):
            await self._rooms.membership.invite(system, room_id, user_id)
        return room_id

    async def send(
        self,
        user_id: str,
        content: dict[str, Any],
        event_type: str = "m.room.message",
        state_key: str | None = None,
    ) -> str:
        """Sends a notice to the user; returns the event id."""
        room_id = await self.notice_room(user_id)
        pdu = await self._rooms.send.send(
            self.system_user_id, room_id, event_type, content, state_key=state_key
        )
        return pdu.event_id
