"""POST /createRoom."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import new_user


async def test_create_room_public_chat_sets_state_in_order(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(
        preset="public_chat", name="Pub", topic="Beer", room_alias_name="pub"
    )
    state = await alice.ok("GET", f"/rooms/{room_id}/state")
    by_key = {(e["type"], e["state_key"]): e for e in state}
    assert by_key[("m.room.create", "")]["content"]["room_version"] == "10"
    assert by_key[("m.room.member", alice.user_id)]["content"]["membership"] == "join"
    assert by_key[("m.room.join_rules", "")]["content"] == {"join_rule": "public"}
    assert by_key[("m.room.history_visibility", "")]["content"] == {"history_visibility": "shared"}
    assert ("m.room.guest_access", "") not in by_key
    assert by_key[("m.room.name", "")]["content"] == {"name": "Pub"}
    assert by_key[("m.room.topic", "")]["content"]["topic"] == "Beer"
    assert by_key[("m.room.canonical_alias", "")]["content"] == {"alias": "#pub:test.local"}
    power = by_key[("m.room.power_levels", "")]["content"]
    assert power["users"] == {alice.user_id: 100}
    # The spec's order: create, join, power levels, alias, preset, name, topic.
    messages = await alice.ok("GET", f"/rooms/{room_id}/messages?dir=f&limit=20")
    types = [e["type"] for e in messages["chunk"]]
    assert types == [
        "m.room.create",
        "m.room.member",
        "m.room.power_levels",
        "m.room.canonical_alias",
        "m.room.join_rules",
        "m.room.history_visibility",
        "m.room.name",
        "m.room.topic",
    ]


async def test_create_room_private_chat_adds_guest_access(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="private_chat")
    rules = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.join_rules/")
    guest = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.guest_access")
    assert rules == {"join_rule": "invite"}
    assert guest == {"guest_access": "can_join"}


async def test_create_room_trusted_private_chat_gives_invitees_creator_power(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(
        preset="trusted_private_chat", invite=[bob.user_id], is_direct=True
    )
    power = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.power_levels")
    member = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.member/{bob.user_id}")
    assert power["users"][bob.user_id] == 100
    assert member["membership"] == "invite"
    assert member["is_direct"] is True


async def test_create_room_alias_taken_is_room_in_use(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    await alice.create_room(room_alias_name="dup")
    status, body = await alice.request("POST", "/createRoom", {"room_alias_name": "dup"})
    assert status == 400
    assert body["errcode"] == "M_ROOM_IN_USE"
    rooms = await alice.ok("GET", "/joined_rooms")
    assert len(rooms["joined_rooms"]) == 1


async def test_create_room_unknown_version_is_unsupported(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, body = await alice.request("POST", "/createRoom", {"room_version": "999"})
    assert status == 400
    assert body["errcode"] == "M_UNSUPPORTED_ROOM_VERSION"


async def test_create_room_v12_derives_room_id_from_create_event(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(room_version="12")
    create = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.create/?format=event")
    power = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.power_levels")
    assert create["event_id"] == "$" + room_id[1:]
    assert ":" not in room_id
    assert alice.user_id not in power["users"]
    assert power["events"]["m.room.tombstone"] == 150


async def test_create_room_initial_state_overrides_preset(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(
        preset="private_chat",
        initial_state=[
            {"type": "m.room.join_rules", "content": {"join_rule": "public"}},
            {"type": "m.room.name", "content": {"name": "initial"}},
        ],
        name="explicit",
    )
    rules = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.join_rules")
    name = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.name")
    assert rules == {"join_rule": "public"}
    assert name == {"name": "explicit"}


async def test_create_room_power_override_breaking_state_is_invalid_room_state(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    status, body = await alice.request(
        "POST",
        "/createRoom",
        {"name": "x", "power_level_content_override": {"users": {}, "state_default": 100}},
    )
    assert status == 400
    assert body["errcode"] == "M_INVALID_ROOM_STATE"
    rooms = await alice.ok("GET", "/joined_rooms")
    assert rooms["joined_rooms"] == []


async def test_create_room_malformed_fields_are_bad_json(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    for body in ({"name": 5}, {"preset": "nope"}, {"initial_state": [1]}, {"visibility": "x"}):
        status, data = await alice.request("POST", "/createRoom", body)
        assert status == 400, body
        assert data["errcode"] == "M_BAD_JSON", body


async def test_create_room_topic_is_also_a_rich_topic(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="public_chat", topic="Test Room")
    topic = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.topic/")
    assert topic == {"topic": "Test Room", "m.topic": {"m.text": [{"body": "Test Room"}]}}
    # ``topic`` wins over an initial_state topic; initial_state alone is kept as given.
    room_id = await alice.create_room(
        topic="Test Room",
        initial_state=[{"type": "m.room.topic", "content": {"topic": "Shenanigans"}}],
    )
    topic = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.topic/")
    assert topic["m.topic"]["m.text"] == [{"body": "Test Room"}]
    room_id = await alice.create_room(
        initial_state=[{"type": "m.room.topic", "content": {"topic": "Shenanigans"}}]
    )
    assert await alice.ok("GET", f"/rooms/{room_id}/state/m.room.topic/") == {
        "topic": "Shenanigans"
    }


async def test_v12_creator_checks_answer_400_as_synapse(client: TestClient[Any, Any]) -> None:
    """Complement's MSC4289/MSC4291 tests: these are 400s, not auth failures."""
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    for body in (["@foo:example.com", "not-a-user-id"], ["@invalid:dom$ain$.com"], "x"):
        status, data = await alice.request(
            "POST",
            "/createRoom",
            {"room_version": "12", "creation_content": {"additional_creators": body}},
        )
        assert status == 400, (body, data)
    room_id = await alice.create_room(
        room_version="12",
        preset="public_chat",
        creation_content={"additional_creators": [bob.user_id, "@bar:baz.code"]},
    )
    for users in ({alice.user_id: 100}, {bob.user_id: 100}):
        status, _ = await alice.put_state(room_id, "m.room.power_levels", {"users": users})
        assert status == 400, users
    status, _ = await alice.put_state(room_id, "m.room.power_levels", {"users": {}})
    assert status == 200
    for version in ("11", "12"):
        other = await alice.create_room(room_version=version)
        status, data = await alice.put_state(
            other, "m.room.create", {"room_version": version, "entropy": 100}
        )
        assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")
