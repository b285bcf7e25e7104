"""One user's actions: the bot or a ghost user of our namespace.

Nothing is wrapped implicitly: a bridge calls ``ensure_registered()`` and
``ensure_joined()`` before acting, and both are cheap once done because the
state store remembers them (also across restarts).
"""

from __future__ import annotations

from typing import Any

from appservices.framework.client import JsonDict, MatrixClient, MatrixRequestError, SentEvent
from appservices.framework.state_store import StateStore


def localpart_of(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0]


class Intent:
    """Acts as ``user_id``; ``bot`` is the intent used to invite ghosts in."""

    def __init__(
        self,
        client: MatrixClient,
        user_id: str,
        store: StateStore,
        bot: Intent | None = None,
    ) -> None:
        self.client = client
        self.user_id = user_id
        self.store = store
        self.bot = bot

    async def ensure_registered(self) -> None:
        """Registers the user on the homeserver unless it already is."""
        if await self.store.is_registered(self.user_id):
            return
        try:
            await self.client.register_appservice_user(localpart_of(self.user_id))
        except MatrixRequestError as e:
            if e.errcode != "M_USER_IN_USE":
                raise
        await self.store.mark_registered(self.user_id)

    async def ensure_joined(self, room_id: str) -> None:
        """Joins the room unless already joined; the bot invites us if the room needs it."""
        if await self.store.membership(room_id, self.user_id) == "join":
            return
        await self.ensure_registered()
        try:
            await self.client.join_room(room_id)
        except MatrixRequestError as e:
            if e.errcode != "M_FORBIDDEN" or self.bot is None:
                raise
            # Invite-only room: the bot (already in it) lets us in, then we join.
            await self.bot.ensure_joined(room_id)
            await self.bot.client.invite_user(room_id, self.user_id)
            await self.client.join_room(room_id)
        await self.store.set_membership(room_id, self.user_id, "join")

    async def leave(self, room_id: str) -> None:
        await self.client.leave_room(room_id)
        await self.store.set_membership(room_id, self.user_id, "leave")

    async def set_displayname(self, displayname: str) -> None:
        await self.ensure_registered()
        await self.client.set_displayname(self.user_id, displayname)

    async def send_event(
        self,
        room_id: str,
        event_type: str,
        content: JsonDict,
        *,
        txn_id: str | None = None,
        ts: int | None = None,
    ) -> SentEvent:
        await self.ensure_joined(room_id)
        return await self.client.send_event(room_id, event_type, content, txn_id=txn_id, ts=ts)

    async def send_text(
        self, room_id: str, body: str, *, notice: bool = False, **extra: Any
    ) -> SentEvent:
        """Sends ``m.text`` (or ``m.notice``, which bots use so others' bots ignore it)."""
        content: JsonDict = {"msgtype": "m.notice" if notice else "m.text", "body": body, **extra}
        return await self.send_event(room_id, "m.room.message", content)

    async def edit_text(
        self, room_id: str, event_id: str, body: str, *, notice: bool = False
    ) -> SentEvent:
        """Replaces the text of an earlier message of ours (``m.replace``)."""
        msgtype = "m.notice" if notice else "m.text"
        content: JsonDict = {
            "msgtype": msgtype,
            "body": f"* {body}",
            "m.new_content": {"msgtype": msgtype, "body": body},
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        }
        return await self.send_event(room_id, "m.room.message", content)
