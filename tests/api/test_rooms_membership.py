"""Membership endpoints: join, invite, leave, kick, ban, unban, knock, forget."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import User, new_user, shared_room


async def _member(user: User, room_id: str, target: User) -> dict[str, Any]:
    content: dict[str, Any] = await user.ok(
        "GET", f"/rooms/{room_id}/state/m.room.member/{target.user_id}"
    )
    return content


async def test_join_public_room_by_alias(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat", room_alias_name="hall")
    joined = await bob.ok("POST", "/join/%23hall:test.local", {})
    assert joined == {"room_id": room_id}
    rooms = await bob.ok("GET", "/joined_rooms")
    assert rooms == {"joined_rooms": [room_id]}


async def test_join_invite_only_room_needs_invite(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat")
    status, body = await bob.request("POST", f"/rooms/{room_id}/join", {})
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"
    await alice.ok("POST", f"/rooms/{room_id}/invite", {"user_id": bob.user_id, "reason": "hi"})
    invite = await _member(alice, room_id, bob)
    assert invite["membership"] == "invite"
    assert invite["reason"] == "hi"
    await bob.ok("POST", f"/rooms/{room_id}/join", {})
    assert (await _member(alice, room_id, bob))["membership"] == "join"


async def test_join_copies_profile_into_member_event(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    await alice.ok("PUT", f"/profile/{alice.user_id}/displayname", {"displayname": "Alice A"})
    room_id = await alice.create_room()
    member = await _member(alice, room_id, alice)
    joined = await alice.ok("GET", f"/rooms/{room_id}/joined_members")
    assert member["displayname"] == "Alice A"
    assert joined["joined"][alice.user_id]["display_name"] == "Alice A"


async def test_join_unknown_or_remote_room_is_not_found(client: TestClient[Any, Any]) -> None:
    bob = await new_user(client, "bob")
    v12_style = "!2DA50ylNLrKwbAtM8gYxcpb2jqEhojWFbIhWSRWNLB0"  # no server name
    for target in (
        "!nowhere:test.local",
        "!far:elsewhere.example",
        "%23none:test.local",
        v12_style,
    ):
        status, body = await bob.request("POST", f"/join/{target}", {})
        assert status == 404, target
        assert body["errcode"] == "M_NOT_FOUND"
    status, body = await bob.request("POST", "/join/garbage", {})
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_leave_then_leave_again_is_noop(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    assert (await _member(alice, room_id, bob))["membership"] == "leave"
    assert (await bob.ok("GET", "/joined_rooms"))["joined_rooms"] == []


async def test_kick_needs_power_and_a_member_target(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await carol.join(room_id)
    status, body = await bob.request("POST", f"/rooms/{room_id}/kick", {"user_id": carol.user_id})
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"
    await alice.ok("POST", f"/rooms/{room_id}/kick", {"user_id": carol.user_id, "reason": "x"})
    kicked = await _member(alice, room_id, carol)
    assert kicked["membership"] == "leave"
    assert kicked["reason"] == "x"
    status, _ = await alice.request("POST", f"/rooms/{room_id}/kick", {"user_id": carol.user_id})
    assert status == 403


async def test_ban_blocks_join_until_unban(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await alice.ok("POST", f"/rooms/{room_id}/ban", {"user_id": bob.user_id, "reason": "spam"})
    status, _ = await bob.request("POST", f"/rooms/{room_id}/join", {})
    assert status == 403
    status, _ = await bob.request("POST", f"/rooms/{room_id}/unban", {"user_id": bob.user_id})
    assert status == 403
    await alice.ok("POST", f"/rooms/{room_id}/unban", {"user_id": bob.user_id})
    await bob.join(room_id)
    status, _ = await alice.request("POST", f"/rooms/{room_id}/unban", {"user_id": bob.user_id})
    assert status == 403


async def test_knock_needs_knock_join_rule(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(room_version="10")
    status, _ = await bob.request("POST", f"/knock/{room_id}", {"reason": "let me in"})
    assert status == 403
    await alice.put_state(room_id, "m.room.join_rules", {"join_rule": "knock"})
    knocked = await bob.ok("POST", f"/knock/{room_id}", {"reason": "let me in"})
    assert knocked == {"room_id": room_id}
    member = await _member(alice, room_id, bob)
    assert member["membership"] == "knock"
    assert member["reason"] == "let me in"
    old = await alice.create_room(room_version="6")
    status, _ = await bob.request("POST", f"/knock/{old}", {})
    assert status == 403


async def test_restricted_join_through_allowed_room(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    space = await alice.create_room(preset="public_chat")
    await bob.join(space)
    room_id = await alice.create_room(room_version="10")
    allow = [{"type": "m.room_membership", "room_id": space}]
    status, _ = await alice.put_state(
        room_id, "m.room.join_rules", {"join_rule": "restricted", "allow": allow}
    )
    assert status == 200
    await bob.ok("POST", f"/rooms/{room_id}/join", {})
    member = await _member(alice, room_id, bob)
    assert member["join_authorised_via_users_server"] == alice.user_id
    status, body = await carol.request("POST", f"/rooms/{room_id}/join", {})
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"


async def test_forget_only_after_leaving(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    status, body = await bob.request("POST", f"/rooms/{room_id}/forget", {})
    assert status == 400
    assert body["errcode"] == "M_UNKNOWN"
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    await bob.ok("POST", f"/rooms/{room_id}/forget", {})
    status, _ = await alice.request("POST", "/rooms/!never:test.local/forget", {})
    assert status == 404


async def test_invite_by_non_member_is_forbidden(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await alice.create_room()
    status, _ = await bob.request("POST", f"/rooms/{room_id}/invite", {"user_id": carol.user_id})
    assert status == 403
    status, body = await alice.request("POST", f"/rooms/{room_id}/invite", {"user_id": "bad"})
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_join_body_keys_go_into_the_member_event(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat", room_alias_name="custom")
    await bob.ok("POST", f"/join/{room_id}", {"foo": "bar", "membership": "leave"})
    member = await _member(alice, room_id, bob)
    assert (member["membership"], member["foo"]) == ("join", "bar")
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    await bob.ok("POST", "/join/%23custom:test.local", {"foo": "baz", "displayname": "Room Bob"})
    member = await _member(alice, room_id, bob)
    assert (member["foo"], member["displayname"]) == ("baz", "Room Bob")
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    body = {"reason": "hello", "join_authorised_via_users_server": alice.user_id, "x": 1}
    await bob.ok("POST", f"/rooms/{room_id}/join", body)
    member = await _member(alice, room_id, bob)
    assert member["x"] == 1
    assert member["reason"] == "hello"
    assert "join_authorised_via_users_server" not in member


async def test_joined_members_has_both_profile_keys(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    joined = await alice.ok("GET", f"/rooms/{room_id}/joined_members")
    # The spec's RoomMember: both keys present, null when the user has none.
    assert set(joined["joined"][alice.user_id]) == {"display_name", "avatar_url"}
    assert joined["joined"][alice.user_id]["avatar_url"] is None


async def test_forgotten_room_history_and_state_are_forbidden(
    client: TestClient[Any, Any],
) -> None:
    alice, _bob, room_id = await shared_room(client)
    await alice.send(room_id, "Hello world!")
    await alice.ok("POST", f"/rooms/{room_id}/leave", {})
    await alice.ok("GET", f"/rooms/{room_id}/messages")
    await alice.ok("POST", f"/rooms/{room_id}/forget", {})
    for path in ("/messages", "/state", "/members"):
        status, body = await alice.request("GET", f"/rooms/{room_id}{path}")
        assert (status, body["errcode"]) == (403, "M_FORBIDDEN"), path
    # Rejoining brings the history back.
    await alice.join(room_id)
    await alice.ok("GET", f"/rooms/{room_id}/messages")


async def test_invites_from_ignored_users_are_not_synced(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    chris = await new_user(client, "chris")
    ignored = {"ignored_users": {bob.user_id: {}}}
    await alice.ok("PUT", f"/user/{alice.user_id}/account_data/m.ignored_user_list", ignored)
    since = (await alice.ok("GET", "/sync"))["next_batch"]
    from_bob = await bob.create_room(preset="private_chat", invite=[alice.user_id])
    from_chris = await chris.create_room(preset="private_chat", invite=[alice.user_id])
    for params in ({"since": since, "timeout": "0"}, {}):
        invites = (await alice.ok("GET", "/sync", params=params))["rooms"]["invite"]
        assert from_chris in invites
        assert from_bob not in invites
