"""GET /_matrix/client/v1/room_summary/{roomIdOrAlias} (MSC3266)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]
PATH = "/_matrix/client/v1/room_summary/"


async def _get(client: Client, target: str, user: User | None = None) -> tuple[int, Any]:
    headers = user.headers if user is not None else {}
    resp = await client.get(PATH + quote(target, safe=""), headers=headers)
    return resp.status, await resp.json()


async def test_summary_of_public_room(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(
        preset="public_chat", name="Cheese", topic="Tasty", room_alias_name="cheese"
    )
    status, body = await _get(client, room_id, bob)
    assert status == 200, body
    assert body["room_id"] == room_id
    assert body["name"] == "Cheese"
    assert body["topic"] == "Tasty"
    assert body["canonical_alias"] == "#cheese:test.local"
    assert body["join_rule"] == "public"
    assert body["num_joined_members"] == 1
    assert body["membership"] == "leave"
    assert isinstance(body["room_version"], str)
    status, by_alias = await _get(client, "#cheese:test.local", alice)
    assert status == 200
    assert by_alias["room_id"] == room_id
    assert by_alias["membership"] == "join"


async def test_summary_unauthenticated_public_room_has_no_membership(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="public_chat")
    status, body = await _get(client, room_id)
    assert status == 200
    assert "membership" not in body


async def test_summary_private_room_hidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    status, body = await _get(client, room_id, bob)
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    status, body = await _get(client, room_id)
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_summary_private_room_visible_to_invitee(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    await alice.invite(room_id, bob)
    status, body = await _get(client, room_id, bob)
    assert status == 200
    assert body["membership"] == "invite"
    assert body["join_rule"] == "invite"


async def test_summary_restricted_room_lists_allowed_rooms(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    space = await alice.create_room(preset="public_chat")
    await bob.join(space)
    room_id = await alice.create_room(room_version="10")
    status, _ = await alice.put_state(
        room_id,
        "m.room.join_rules",
        {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]},
    )
    assert status == 200
    status, body = await _get(client, room_id, bob)
    assert status == 200
    assert body["allowed_room_ids"] == [space]
    carol = await new_user(client, "carol")
    status, _ = await _get(client, room_id, carol)
    assert status == 404


async def test_summary_unknown_and_malformed(client: Client) -> None:
    alice = await new_user(client, "alice")
    status, body = await _get(client, "!nope:test.local", alice)
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    status, body = await _get(client, "#nope:test.local", alice)
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    status, body = await _get(client, "garbage", alice)
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(target=st.text(min_size=1, max_size=30).filter(lambda t: t not in (".", "..")))
async def test_summary_random_targets_never_500(client: Client, target: str) -> None:
    status, body = await _get(client, target)
    assert status < 500
    if status >= 400:
        assert isinstance(body["errcode"], str)
