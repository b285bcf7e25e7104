"""Server notices: messages from the server to one user, in a room of their
own that a system user creates on first use.

As in Synapse: the system user is ``@<server_notices.system_mxid_localpart>``
(``_server`` by default), which nobody may register; the room is kept per
user and tagged ``m.server_notice`` for them; they cannot reject its invite
(403 M_CANNOT_LEAVE_SERVER_NOTICE_ROOM) but may leave once joined, and the
next notice invites them back into the same room. A notice sent with a
transaction id is sent once: a retry answers the first event id.
"""

from __future__ import annotations

import logging
from typing import Any

from homeserver.config.model import ServerNoticesConfig
from homeserver.core.errors import NotFound, UserInUse
from homeserver.services.accounts.registration import RegistrationService
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.rooms.create import CreateRoomRequest
from homeserver.services.rooms.persist import TxnKey
from homeserver.services.tags import TagService
from homeserver.storage.db import Database
from homeserver.storage.stores.accounts import AccountStore
from homeserver.storage.stores.admin import AdminStore
from homeserver.storage.stores.rooms import RoomStore

logger = logging.getLogger(__name__)

#: The room tag that marks a server notices room (spec: "Server Notices").
SERVER_NOTICE_TAG = "m.server_notice"


class ServerNotices:
    def __init__(
        self,
        db: Database,
        server_name: str,
        rooms: Rooms,
        registration: RegistrationService,
        config: ServerNoticesConfig | None = None,
        tags: TagService | None = None,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._registration = registration
        self._config = config if config is not None else ServerNoticesConfig()
        self._localpart = self._config.system_mxid_localpart
        self.system_user_id = f"@{self._localpart}:{server_name}"
        self._tags = tags
        self._store = AdminStore()
        self._accounts = AccountStore()
        self._room_store = RoomStore()
        # The system user's id is reserved: a client registering it could
        # send notices in the server's name.
        registration.username_checks.append(self._reserve)

    def _reserve(self, user_id: str) -> None:
        if user_id == self.system_user_id:
            raise UserInUse("User ID already taken")

    async def _ensure_system_user(self) -> None:
        async with self._db.read() as conn:
            exists = await self._accounts.exists(conn, self.system_user_id)
        if not exists:
            await self._registration.register_user(
                self._localpart,
                None,
                user_type="support",
                displayname=self._config.system_mxid_display_name,
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
        # Like an admin: may invite users who block invites (as in Synapse).
        system = Requester(user_id=self.system_user_id, device_id=None, is_admin=True)
        snapshot = await self._rooms.cache.room(room_id) if room_id is not None else None
        if snapshot is None or snapshot.membership_of(self.system_user_id) != "join":
            request = CreateRoomRequest.from_json(
                {
                    "preset": "private_chat",
                    "name": self._config.room_name,
                    "invite": [user_id],
                    "power_level_content_override": {"users_default": -10},
                }
            )
            room_id, _ = await self._rooms.create.create_room(system, request)
            async with self._db.write() as txn:
                await self._store.set_notice_room(txn, user_id, room_id)
            if self._tags is not None:
                await self._tags.set_tag(
                    Requester(user_id=user_id, device_id=None),
                    user_id,
                    room_id,
                    SERVER_NOTICE_TAG,
                    {},
                )
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
        *,
        txn_scope: tuple[str, str] | None = None,
        txn_id: str | None = None,
    ) -> str:
        """Sends a notice to the user; returns the event id.

        Args:
            txn_scope: with ``txn_id``: the (user id, device id) of the admin
                whose request this is; the same admin device sending the same
                transaction id again gets the first event id back and sends
                nothing.
            txn_id: the request's transaction id.
        """
        txn: TxnKey | None = None
        if txn_scope is not None and txn_id is not None:
            # Recorded against the system user, who never syncs, so the id
            # never shows up as an ``unsigned.transaction_id``.
            admin_user, admin_device = txn_scope
            path = f"admin/send_server_notice/{admin_user}/{admin_device}/{txn_id}"
            txn = TxnKey(self.system_user_id, "", path, txn_id)
            async with self._db.read() as conn:
                existing = await self._room_store.get_txn_event(
                    conn, txn.user_id, txn.device_id, txn.path
                )
            if existing is not None:
                return existing
        room_id = await self.notice_room(user_id)
        pdu = await self._rooms.send.send(
            self.system_user_id, room_id, event_type, content, state_key=state_key, txn=txn
        )
        return pdu.event_id

    async def is_notice_room(self, room_id: str) -> bool:
        async with self._db.read() as conn:
            return await self._store.is_notice_room(conn, room_id)
