"""Invite blocking (spec v1.18 "Invite permission", MSC4380)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.admin.admin_helpers import A1, new_admin
from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]
CONFIG = "m.invite_permission_config"


async def _block(user: User, block: bool = True) -> None:
    content = {"default_action": "block"} if block else {}
    await user.ok("PUT", f"/user/{user.user_id}/account_data/{CONFIG}", content)


async def test_blocked_invites_are_refused_everywhere(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    await _block(bob)
    room_id = await alice.create_room()
    status, data = await alice.request("POST", f"/rooms/{room_id}/invite", {"user_id": bob.user_id})
    assert (status, data["errcode"]) == (403, "M_INVITE_BLOCKED")
    status, data = await alice.put_state(
        room_id, "m.room.member", {"membership": "invite"}, state_key=bob.user_id
    )
    assert (status, data["errcode"]) == (403, "M_INVITE_BLOCKED")
    # createRoom succeeds; only the blocking invitee is left out.
    other = await alice.create_room(invite=[bob.user_id, carol.user_id])
    members = await alice.ok("GET", f"/rooms/{other}/members")
    memberships = {e["state_key"]: e["content"]["membership"] for e in members["chunk"]}
    assert memberships == {alice.user_id: "join", carol.user_id: "invite"}
    # Without the block, invites work again.
    await _block(bob, False)
    await alice.invite(room_id, bob)
    assert room_id in (await bob.ok("GET", "/sync"))["rooms"]["invite"]


async def test_existing_invites_are_hidden_while_blocked(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    await alice.invite(room_id, bob)
    await _block(bob)
    assert room_id not in (await bob.ok("GET", "/sync"))["rooms"].get("invite", {})
    await _block(bob, False)
    assert room_id in (await bob.ok("GET", "/sync"))["rooms"]["invite"]


async def test_server_admin_and_server_notices_may_still_invite(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    await _block(bob)
    body = {"user_id": bob.user_id, "content": {"msgtype": "m.text", "body": "hi"}}
    await admin.ok("POST", f"{A1}/send_server_notice", body)
