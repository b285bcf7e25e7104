"""Invite blocking (spec v1.18 "Invite permission", MSC4380).

A user whose ``m.invite_permission_config`` account data has
``default_action: block`` receives no invites: inviting them (POST /invite,
PUT /state/m.room.member, createRoom's ``invite`` list) is refused with 403
M_INVITE_BLOCKED, and /sync leaves out invites they already have. Server
admins (and the server notices user) may still invite them, as in Synapse.
"""

from __future__ import annotations

from homeserver.core.errors import Codes, MatrixError
from homeserver.storage.db import Database
from homeserver.storage.stores.account_data import AccountDataStore

INVITE_PERMISSION_TYPE = "m.invite_permission_config"

_store = AccountDataStore()


async def invites_blocked(db: Database, user_id: str) -> bool:
    """Whether the user asked for every invite to be refused."""
    async with db.read() as conn:
        content = await _store.get(conn, user_id, None, INVITE_PERMISSION_TYPE)
    return content is not None and content.get("default_action") == "block"


class InviteBlocked(MatrixError):
    code = Codes.INVITE_BLOCKED

    def __init__(self) -> None:
        super().__init__("This user does not accept invites")
