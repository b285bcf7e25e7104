"""Reading rooms: /messages, /context, /members, /event and history visibility."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import User, new_user


async def _bodies(user: User, room_id: str, query: str) -> tuple[list[str], dict[str, Any]]:
    page = await user.ok("GET", f"/rooms/{room_id}/messages?{query}")
    bodies = [e["content"]["body"] for e in page["chunk"] if e["type"] == "m.room.message"]
    return bodies, page


async def test_messages_paginates_backwards_and_forwards(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    sent = [str(i) for i in range(45)]
    for body in sent:
        await alice.send(room_id, body)
    seen: list[str] = []
    token = None
    filt = quote(json.dumps({"types": ["m.room.message"]}))
    while True:
        query = f"dir=b&limit=10&filter={filt}" + (f"&from={token}" if token else "")
        bodies, page = await _bodies(alice, room_id, query)
        seen.extend(bodies)
        if "end" not in page:
            break
        token = page["end"]
    assert seen == list(reversed(sent))
    forward: list[str] = []
    token = None
    while True:
        query = f"dir=f&limit=7&filter={filt}" + (f"&from={token}" if token else "")
        bodies, page = await _bodies(alice, room_id, query)
        forward.extend(bodies)
        if "end" not in page:
            break
        token = page["end"]
    assert forward == sent


async def test_messages_backward_token_then_forward_resumes_in_place(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    for i in range(6):
        await alice.send(room_id, str(i))
    bodies, page = await _bodies(alice, room_id, "dir=b&limit=3")
    assert bodies == ["5", "4", "3"]
    after, _ = await _bodies(alice, room_id, f"dir=f&limit=10&from={page['start']}")
    assert after == []
    before, _ = await _bodies(alice, room_id, f"dir=f&limit=3&from={page['end']}")
    assert before == ["3", "4", "5"]


async def test_messages_filter_senders_and_lazy_members(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await alice.send(room_id, "a")
    await bob.send(room_id, "b")
    filt = quote(json.dumps({"senders": [bob.user_id], "lazy_load_members": True}))
    page = await alice.ok("GET", f"/rooms/{room_id}/messages?dir=b&filter={filt}")
    assert {e["sender"] for e in page["chunk"]} == {bob.user_id}
    assert [e["state_key"] for e in page["state"]] == [bob.user_id]
    filt = quote(json.dumps({"not_types": ["m.room.*"]}))
    page = await alice.ok("GET", f"/rooms/{room_id}/messages?dir=b&filter={filt}")
    assert page["chunk"] == []


async def test_messages_bad_params_are_invalid_param(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    for query in ("dir=x", "from=garbage", "filter=notjson", "limit=abc"):
        status, body = await alice.request("GET", f"/rooms/{room_id}/messages?{query}")
        assert status == 400, query
        assert body["errcode"] == "M_INVALID_PARAM", query


async def test_history_visibility_joined_hides_events_before_join(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await alice.put_state(room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    secret = await alice.send(room_id, "before")
    await bob.join(room_id)
    public = await alice.send(room_id, "after")
    status, body = await bob.request("GET", f"/rooms/{room_id}/event/{secret}")
    assert status == 404
    assert body["errcode"] == "M_NOT_FOUND"
    event = await bob.ok("GET", f"/rooms/{room_id}/event/{public}")
    assert event["unsigned"]["membership"] == "join"
    bodies, _ = await _bodies(bob, room_id, "dir=b&limit=50")
    assert bodies == ["after"]


async def test_history_visibility_shared_shows_earlier_events(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    earlier = await alice.send(room_id, "before")
    await bob.join(room_id)
    event = await bob.ok("GET", f"/rooms/{room_id}/event/{earlier}")
    assert event["content"]["body"] == "before"
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    later = await alice.send(room_id, "after leaving")
    status, _ = await bob.request("GET", f"/rooms/{room_id}/event/{later}")
    assert status == 404


async def test_non_member_cannot_read_unless_world_readable(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    eve = await new_user(client, "eve")
    room_id = await alice.create_room(preset="public_chat")
    hidden = await alice.send(room_id, "x")
    for path in ("/state", "/members", "/joined_members", "/messages"):
        status, body = await eve.request("GET", f"/rooms/{room_id}{path}")
        assert status == 403, path
        assert body["errcode"] == "M_FORBIDDEN"
    await alice.put_state(
        room_id, "m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    readable = await alice.send(room_id, "y")
    event = await eve.ok("GET", f"/rooms/{room_id}/event/{readable}")
    assert event["content"]["body"] == "y"
    # Visibility is judged at the event: before the change it was shared.
    status, _ = await eve.request("GET", f"/rooms/{room_id}/event/{hidden}")
    assert status == 404
    await eve.ok("GET", f"/rooms/{room_id}/state")


async def test_former_member_sees_state_at_leave(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat", name="old")
    await bob.join(room_id)
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    await alice.put_state(room_id, "m.room.name", {"name": "new"})
    name = await bob.ok("GET", f"/rooms/{room_id}/state/m.room.name")
    assert name == {"name": "old"}


async def test_members_filters(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await alice.invite(room_id, carol)
    everyone = await alice.ok("GET", f"/rooms/{room_id}/members")
    joined = await alice.ok("GET", f"/rooms/{room_id}/members?membership=join")
    not_joined = await alice.ok("GET", f"/rooms/{room_id}/members?not_membership=join")
    assert {e["state_key"] for e in everyone["chunk"]} == {
        alice.user_id,
        bob.user_id,
        carol.user_id,
    }
    assert {e["state_key"] for e in joined["chunk"]} == {alice.user_id, bob.user_id}
    assert [e["state_key"] for e in not_joined["chunk"]] == [carol.user_id]
    page = await alice.ok("GET", f"/rooms/{room_id}/messages?dir=b&limit=1")
    assert page["chunk"][0]["content"]["membership"] == "invite"
    at_before_invite = await alice.ok("GET", f"/rooms/{room_id}/members?at={page['end']}")
    assert {e["state_key"] for e in at_before_invite["chunk"]} == {alice.user_id, bob.user_id}


async def test_context_returns_events_around(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    ids = [await alice.send(room_id, str(i)) for i in range(9)]
    context = await alice.ok("GET", f"/rooms/{room_id}/context/{ids[4]}?limit=4")
    assert context["event"]["event_id"] == ids[4]
    assert [e["event_id"] for e in context["events_before"]] == [ids[3], ids[2]]
    assert [e["event_id"] for e in context["events_after"]] == [ids[5], ids[6]]
    assert any(e["type"] == "m.room.create" for e in context["state"])
    bodies, _ = await _bodies(alice, room_id, f"dir=b&limit=2&from={context['start']}")
    assert bodies == ["1", "0"]
    bodies, _ = await _bodies(alice, room_id, f"dir=f&limit=2&from={context['end']}")
    assert bodies == ["7", "8"]
    missing = "$" + "A" * 43
    status, _ = await alice.request("GET", f"/rooms/{room_id}/context/{missing}")
    assert status == 404
