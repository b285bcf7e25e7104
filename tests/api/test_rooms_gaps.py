"""Rooms and messaging edge cases: /messages and /context filters and bounds,
history visibility, guests, upgrades, membership corner cases, state
validation, size limits and the access status of the read endpoints."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.fuzz_helpers import json_values
from tests.api.rooms_helpers import V3, User, new_user

Client = TestClient[Any, Any]


async def _messages(user: User, room_id: str, **params: Any) -> tuple[int, Any]:
    query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items())
    return await user.request("GET", f"/rooms/{room_id}/messages?{query}")


def _bodies(chunk: list[dict[str, Any]]) -> list[str]:
    return [e["content"]["body"] for e in chunk if e["type"] == "m.room.message"]


async def _guest(client: Client) -> User:
    resp = await client.post(V3 + "/register?kind=guest", json={})
    data = await resp.json()
    assert resp.status == 200, data
    return User(client, data)


# --- /messages and /context --------------------------------------------------------


async def test_messages_filter_id_applies_stored_timeline_filter(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    await alice.send(room, "one")
    await alice.send(room, "note", event_type="m.custom")
    definition = {"room": {"timeline": {"types": ["m.custom"]}}}
    created = await alice.ok("POST", f"/user/{alice.user_id}/filter", definition)
    status, body = await _messages(alice, room, dir="b", filter=created["filter_id"])
    assert status == 200
    assert [e["type"] for e in body["chunk"]] == ["m.custom"]


async def test_messages_unknown_filter_id_rejected(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    status, body = await _messages(alice, room, dir="b", filter="12345")
    assert status == 400
    assert body["errcode"] in ("M_INVALID_PARAM", "M_BAD_JSON")


async def test_messages_contains_url_filter(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    await alice.send(room, "plain")
    await alice.ok(
        "PUT",
        f"/rooms/{room}/send/m.room.message/img1",
        {"msgtype": "m.image", "body": "pic", "url": "mxc://test.local/abc"},
    )
    with_url = json.dumps({"contains_url": True})
    _, body = await _messages(alice, room, dir="b", filter=with_url)
    assert _bodies(body["chunk"]) == ["pic"]
    without = json.dumps({"contains_url": False, "types": ["m.room.message"]})
    _, body = await _messages(alice, room, dir="b", filter=without)
    assert _bodies(body["chunk"]) == ["plain"]


async def test_messages_wildcard_types_and_negations(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room = await alice.create_room(preset="public_chat")
    await bob.join(room)
    await alice.send(room, "from alice")
    await bob.send(room, "from bob")
    only_room = json.dumps({"types": ["m.room.*"], "not_types": ["m.room.member"]})
    _, body = await _messages(alice, room, dir="b", filter=only_room, limit=100)
    types = {e["type"] for e in body["chunk"]}
    assert "m.room.message" in types
    assert "m.room.member" not in types
    assert all(t.startswith("m.room.") for t in types)
    no_bob = json.dumps({"types": ["m.room.message"], "not_senders": [bob.user_id]})
    _, body = await _messages(alice, room, dir="b", filter=no_bob)
    assert _bodies(body["chunk"]) == ["from alice"]
    middle = json.dumps({"types": ["m.*.message"]})
    _, body = await _messages(alice, room, dir="b", filter=middle)
    assert _bodies(body["chunk"]) == ["from bob", "from alice"]


async def test_messages_lazy_load_members_returns_sender_members(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room = await alice.create_room(preset="public_chat")
    await bob.join(room)
    await carol.join(room)
    await bob.send(room, "bob speaks")
    lazy = json.dumps(
        {"lazy_load_members": True, "include_redundant_members": True, "types": ["m.room.message"]}
    )
    _, body = await _messages(alice, room, dir="b", filter=lazy)
    assert _bodies(body["chunk"]) == ["bob speaks"]
    members = {e["state_key"] for e in body["state"] if e["type"] == "m.room.member"}
    assert members == {bob.user_id}


async def test_messages_limit_default_and_bounds(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    for i in range(12):
        await alice.send(room, f"m{i}")
    _, body = await _messages(alice, room, dir="b")
    assert len(body["chunk"]) == 10
    _, body = await _messages(alice, room, dir="b", limit=5000)
    assert len(body["chunk"]) > 12
    status, body = await _messages(alice, room, dir="b", limit=-1)
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_messages_bad_dir_is_invalid_param(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    status, body = await _messages(alice, room, dir="sideways")
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_messages_without_from_starts_at_the_right_end(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    await alice.send(room, "first")
    await alice.send(room, "last")
    _, backwards = await _messages(alice, room, dir="b", limit=1)
    assert _bodies(backwards["chunk"]) == ["last"]
    _, forwards = await _messages(alice, room, dir="f", limit=1)
    assert forwards["chunk"][0]["type"] == "m.room.create"


async def test_messages_to_token_stops_the_page(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    await alice.send(room, "a")
    _, first = await _messages(alice, room, dir="b", limit=1)
    stop = first["start"]
    await alice.send(room, "b")
    await alice.send(room, "c")
    _, page = await _messages(alice, room, dir="b", to=stop, limit=50)
    assert _bodies(page["chunk"]) == ["c", "b"]
    # As Synapse: a page with events has ``end``; the one after it is empty.
    _, page = await _messages(alice, room, dir="b", to=stop, limit=50, **{"from": page["end"]})
    assert page["chunk"] == []
    assert "end" not in page


async def test_messages_from_beyond_the_end(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    await alice.send(room, "only")
    _, back = await _messages(alice, room, dir="b", **{"from": "t999999-999999"}, limit=1)
    assert _bodies(back["chunk"]) == ["only"]
    status, fwd = await _messages(alice, room, dir="f", **{"from": "t999999-999999"})
    assert status == 200
    assert fwd["chunk"] == []
    assert "end" not in fwd


async def test_messages_bad_token_is_invalid_param(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    status, body = await _messages(alice, room, dir="b", **{"from": "nonsense"})
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_context_filter_id_and_lazy_members(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room = await alice.create_room(preset="public_chat")
    await bob.join(room)
    target = await bob.send(room, "target")
    await alice.send(room, "after")
    definition = {"room": {"timeline": {"lazy_load_members": True, "types": ["m.room.message"]}}}
    created = await alice.ok("POST", f"/user/{alice.user_id}/filter", definition)
    body = await alice.ok(
        "GET", f"/rooms/{room}/context/{target}?limit=4&filter={created['filter_id']}"
    )
    assert _bodies(body["events_after"]) == ["after"]
    members = {e["state_key"] for e in body["state"] if e["type"] == "m.room.member"}
    assert members == {bob.user_id, alice.user_id}


# --- history visibility ------------------------------------------------------------


async def test_history_visibility_event_judged_by_more_permissive_rule(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room = await alice.create_room(preset="public_chat")
    status, _ = await alice.put_state(
        room, "m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    assert status == 200
    await alice.send(room, "readable")
    status, _ = await alice.put_state(
        room, "m.room.history_visibility", {"history_visibility": "joined"}
    )
    assert status == 200
    await alice.send(room, "secret")
    await bob.join(room)
    _, body = await _messages(bob, room, dir="b", limit=100)
    visibilities = [
        e["content"]["history_visibility"]
        for e in body["chunk"]
        if e["type"] == "m.room.history_visibility"
    ]
    # The change to "joined" is judged by the more permissive previous rule
    # (world_readable), so bob sees it though he joined later.
    assert visibilities == ["joined", "world_readable", "shared"]
    assert _bodies(body["chunk"]) == ["readable"]


async def test_members_at_capped_at_leave_for_former_member(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room = await alice.create_room(preset="public_chat")
    await bob.join(room)
    await bob.ok("POST", f"/rooms/{room}/leave", {})
    await carol.join(room)
    now = await alice.ok("GET", f"/rooms/{room}/messages?dir=b&limit=1")
    body = await bob.ok("GET", f"/rooms/{room}/members?at={now['start']}")
    members = {e["state_key"] for e in body["chunk"]}
    assert carol.user_id not in members
    assert bob.user_id in members


async def test_guest_cannot_create_room(client_for: Any) -> None:
    client = await client_for(registration={"allow_guests": True})
    guest = await _guest(client)
    status, body = await guest.request("POST", "/createRoom", {})
    assert status == 403
    assert body["errcode"] == "M_GUEST_ACCESS_FORBIDDEN"


async def test_guest_join_needs_can_join(client_for: Any) -> None:
    client = await client_for(registration={"allow_guests": True})
    alice = await new_user(client, "alice")
    guest = await _guest(client)
    room = await alice.create_room(preset="public_chat")
    status, body = await guest.request("POST", f"/join/{room}", {})
    assert status == 403
    assert body["errcode"] == "M_GUEST_ACCESS_FORBIDDEN"
    await alice.put_state(room, "m.room.guest_access", {"guest_access": "can_join"})
    await guest.join(room)
    event_id = await guest.send(room, "guest says hi")
    assert event_id.startswith("$")


async def test_guest_reads_only_world_readable_rooms(client_for: Any) -> None:
    client = await client_for(registration={"allow_guests": True})
    alice = await new_user(client, "alice")
    guest = await _guest(client)
    room = await alice.create_room(preset="public_chat")
    await alice.send(room, "before")
    status, _ = await _messages(guest, room, dir="b")
    assert status == 403
    await alice.put_state(
        room, "m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    await alice.send(room, "hello")
    status, body = await _messages(guest, room, dir="b")
    assert status == 200
    assert _bodies(body["chunk"]) == ["hello"]


async def test_guest_forbidden_on_user_only_room_routes(client_for: Any) -> None:
    client = await client_for(registration={"allow_guests": True})
    alice = await new_user(client, "alice")
    guest = await _guest(client)
    room = await alice.create_room(preset="public_chat")
    for path in ("/invite", "/kick", "/ban", "/unban", "/forget", "/upgrade"):
        status, body = await guest.request(
            "POST", f"/rooms/{room}{path}", {"user_id": alice.user_id, "new_version": "10"}
        )
        assert status == 403, path
        assert body["errcode"] == "M_GUEST_ACCESS_FORBIDDEN", path
    status, body = await guest.request("GET", f"/rooms/{room}/joined_members")
    assert status == 403
    assert body["errcode"] == "M_GUEST_ACCESS_FORBIDDEN"


# --- upgrades ----------------------------------------------------------------------


async def test_upgrade_copies_bans_and_rewrites_allow_list(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room = await alice.create_room(preset="public_chat", room_version="10")
    await bob.join(room)
    await alice.ok("POST", f"/rooms/{room}/ban", {"user_id": bob.user_id, "reason": "spam"})
    rules = {
        "join_rule": "restricted",
        "allow": [{"type": "m.room_membership", "room_id": room}],
    }
    status, _ = await alice.put_state(room, "m.room.join_rules", rules)
    assert status == 200
    new_room = (await alice.ok("POST", f"/rooms/{room}/upgrade", {"new_version": "11"}))[
        "replacement_room"
    ]
    ban = await alice.ok("GET", f"/rooms/{new_room}/state/m.room.member/{bob.user_id}")
    assert ban["membership"] == "ban"
    assert ban["reason"] == "spam"
    join_rules = await alice.ok("GET", f"/rooms/{new_room}/state/m.room.join_rules")
    assert join_rules["allow"] == [{"type": "m.room_membership", "room_id": new_room}]


# --- membership --------------------------------------------------------------------


async def test_invite_reason_and_reinvite_is_idempotent(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room = await alice.create_room()
    body = {"user_id": bob.user_id, "reason": "come along"}
    await alice.ok("POST", f"/rooms/{room}/invite", body)
    first = await alice.ok("GET", f"/rooms/{room}/state/m.room.member/{bob.user_id}?format=event")
    assert first["content"]["reason"] == "come along"
    await alice.ok("POST", f"/rooms/{room}/invite", body)
    second = await alice.ok("GET", f"/rooms/{room}/state/m.room.member/{bob.user_id}?format=event")
    assert second["event_id"] == first["event_id"]


async def test_invite_joined_or_banned_user_forbidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room = await alice.create_room(preset="public_chat")
    await bob.join(room)
    status, body = await alice.request("POST", f"/rooms/{room}/invite", {"user_id": bob.user_id})
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"
    await alice.ok("POST", f"/rooms/{room}/ban", {"user_id": carol.user_id})
    status, body = await alice.request("POST", f"/rooms/{room}/invite", {"user_id": carol.user_id})
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"


async def test_kick_unban_and_ban_reason(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room = await alice.create_room(preset="public_chat")
    status, _ = await alice.request("POST", f"/rooms/{room}/kick", {"user_id": bob.user_id})
    assert status == 403
    status, _ = await alice.request("POST", f"/rooms/{room}/unban", {"user_id": bob.user_id})
    assert status == 403
    await alice.ok("POST", f"/rooms/{room}/ban", {"user_id": bob.user_id, "reason": "rude"})
    ban = await alice.ok("GET", f"/rooms/{room}/state/m.room.member/{bob.user_id}")
    assert ban == {"membership": "ban", "reason": "rude"}
    await alice.ok("POST", f"/rooms/{room}/unban", {"user_id": bob.user_id})
    after = await alice.ok("GET", f"/rooms/{room}/state/m.room.member/{bob.user_id}")
    assert after["membership"] == "leave"


async def test_rejecting_invite_appears_as_leave(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room = await alice.create_room()
    await alice.invite(room, bob)
    await bob.ok("POST", f"/rooms/{room}/leave", {"reason": "no thanks"})
    member = await alice.ok("GET", f"/rooms/{room}/state/m.room.member/{bob.user_id}")
    assert member == {"membership": "leave", "reason": "no thanks"}


async def test_knock_reason_and_refused_without_knock_rule(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    closed = await alice.create_room(room_version="10")
    status, body = await bob.request("POST", f"/knock/{closed}", {"reason": "please"})
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"
    room = await alice.create_room(room_version="10")
    await alice.put_state(room, "m.room.join_rules", {"join_rule": "knock"})
    await bob.ok("POST", f"/knock/{room}", {"reason": "please"})
    member = await alice.ok("GET", f"/rooms/{room}/state/m.room.member/{bob.user_id}")
    assert member["membership"] == "knock"
    assert member["reason"] == "please"


# --- state validation ----------------------------------------------------------------


async def test_malformed_power_levels_are_bad_json(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room(room_version="10")
    for content in ({"ban": "50"}, {"users": []}, {"users": {alice.user_id: 1.5}}):
        status, body = await alice.put_state(room, "m.room.power_levels", content)
        assert status == 400, content
        assert body["errcode"] == "M_BAD_JSON", content


async def test_create_event_cannot_be_sent_as_state(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    status, body = await alice.put_state(room, "m.room.create", {"room_version": "10"})
    # A bad request before any auth rule, as Synapse answers it.
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_member_state_with_bad_membership_is_bad_json(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    for content in ({"membership": "dancing"}, {"membership": 3}, {}):
        status, body = await alice.put_state(room, "m.room.member", content, alice.user_id)
        assert status == 400, content
        assert body["errcode"] == "M_BAD_JSON", content


async def test_server_acl_validation(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    bad: list[dict[str, Any]] = [
        {"allow": "*"},
        {"allow": ["*", 3]},
        {"deny": {"a": 1}},
        {"allow": ["*"], "allow_ip_literals": "yes"},
    ]
    for content in bad:
        status, body = await alice.put_state(room, "m.room.server_acl", content)
        assert status == 400, content
        assert body["errcode"] == "M_BAD_JSON", content
    status, _ = await alice.put_state(
        room, "m.room.server_acl", {"allow": ["*"], "deny": ["evil.example"]}
    )
    assert status == 200


# --- size limits ---------------------------------------------------------------------


async def test_event_over_64k_is_too_large(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    # The content alone fits; the whole PDU (hashes, signatures…) does not.
    content = {"msgtype": "m.text", "body": "x" * (65536 - 300)}
    status, body = await alice.request("PUT", f"/rooms/{room}/send/m.room.message/big", content)
    assert status == 413
    assert body["errcode"] == "M_TOO_LARGE"


async def test_long_state_key_and_type_are_too_large(client: Client) -> None:
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    status, body = await alice.put_state(room, "m.custom", {}, "k" * 256)
    assert status == 413
    assert body["errcode"] == "M_TOO_LARGE"
    status, body = await alice.request("PUT", f"/rooms/{room}/send/{'t' * 256}/txn1", {"body": "x"})
    assert status == 413
    assert body["errcode"] == "M_TOO_LARGE"
    status, _ = await alice.put_state(room, "m.custom", {}, "k" * 255)
    assert status == 200


# --- access to read endpoints ----------------------------------------------------------


async def test_read_endpoints_for_a_stranger(client: Client) -> None:
    alice = await new_user(client, "alice")
    eve = await new_user(client, "eve")
    room = await alice.create_room(preset="public_chat")
    event_id = await alice.send(room, "private")
    expected = {
        f"/rooms/{room}/event/{event_id}": (404, "M_NOT_FOUND"),
        f"/rooms/{room}/context/{event_id}": (404, "M_NOT_FOUND"),
        f"/rooms/{room}/state": (403, "M_FORBIDDEN"),
        f"/rooms/{room}/state/m.room.name": (403, "M_FORBIDDEN"),
        f"/rooms/{room}/members": (403, "M_FORBIDDEN"),
        f"/rooms/{room}/messages?dir=b": (403, "M_FORBIDDEN"),
        f"/rooms/{room}/joined_members": (403, "M_FORBIDDEN"),
    }
    for path, (want_status, want_code) in expected.items():
        status, body = await eve.request("GET", path)
        assert (status, body["errcode"]) == (want_status, want_code), path


async def test_joined_members_forbidden_in_world_readable_room(client: Client) -> None:
    alice = await new_user(client, "alice")
    eve = await new_user(client, "eve")
    room = await alice.create_room(preset="public_chat")
    await alice.put_state(
        room, "m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    status, _ = await eve.request("GET", f"/rooms/{room}/members")
    assert status == 200
    status, body = await eve.request("GET", f"/rooms/{room}/joined_members")
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"


# --- never a 500 --------------------------------------------------------------------------


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["from", "to", "dir", "limit", "filter"]),
        st.text(max_size=12) | json_values.map(json.dumps),
        max_size=4,
    ),
    path=st.sampled_from(["messages", "context", "members"]),
)
async def test_read_random_params_never_500(
    client: Client, params: dict[str, str], path: str
) -> None:
    if not hasattr(client, "_fuzz"):
        user = await new_user(client, "fuzzer")
        room = await user.create_room()
        event_id = await user.send(room, "x")
        client._fuzz = (user, room, event_id)  # type: ignore[attr-defined]
    user, room, event_id = client._fuzz  # type: ignore[attr-defined]
    suffix = f"context/{event_id}" if path == "context" else path
    resp = await client.get(f"{V3}/rooms/{room}/{suffix}", params=params, headers=user.headers)
    assert resp.status < 500
    if resp.status >= 400:
        assert isinstance((await resp.json())["errcode"], str)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content=json_values,
    event_type=st.sampled_from(
        ["m.room.power_levels", "m.room.server_acl", "m.room.member", "m.room.join_rules"]
    ),
    action=st.sampled_from(["state", "invite", "kick", "ban", "unban", "knock"]),
)
async def test_state_and_membership_random_bodies_never_500(
    client: Client, content: Any, event_type: str, action: str
) -> None:
    if not hasattr(client, "_fuzz_state"):
        user = await new_user(client, "fuzzer")
        room = await user.create_room()
        client._fuzz_state = (user, room)  # type: ignore[attr-defined]
    user, room = client._fuzz_state  # type: ignore[attr-defined]
    if action == "state":
        url = f"{V3}/rooms/{room}/state/{event_type}/{user.user_id}"
    elif action == "knock":
        url = f"{V3}/knock/{room}"
    else:
        url = f"{V3}/rooms/{room}/{action}"
    method = "PUT" if action == "state" else "POST"
    resp = await client.request(method, url, json=content, headers=user.headers)
    assert resp.status < 500
    if resp.status >= 400:
        assert isinstance((await resp.json())["errcode"], str)


async def test_messages_last_page_with_events_has_end(client: Client) -> None:
    # Complement's TestRoomImageRoundtrip: the one match of the whole room
    # comes with an ``end``; only a page past every match has none.
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    await alice.send(room, "test")
    await alice.ok(
        "PUT",
        f"/rooms/{room}/send/m.room.message/img1",
        {"msgtype": "m.file", "body": "test.png", "url": "mxc://test.local/abc"},
    )
    flt = json.dumps({"contains_url": True})
    _, page = await _messages(alice, room, dir="b", filter=flt)
    assert [e["content"]["body"] for e in page["chunk"]] == ["test.png"]
    assert isinstance(page["start"], str)
    assert isinstance(page["end"], str)
    _, after = await _messages(alice, room, dir="b", filter=flt, **{"from": page["end"]})
    assert after["chunk"] == []
    assert "end" not in after
    # Nothing matching at all: no ``end``.
    _, none = await _messages(alice, room, dir="b", filter=json.dumps({"types": ["x.none"]}))
    assert none["chunk"] == []
    assert "end" not in none
