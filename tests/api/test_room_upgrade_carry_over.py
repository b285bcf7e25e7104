"""A local user's push rules, tags and ``m.direct`` entry of an upgraded room
carry over to its replacement when they join it (as Synapse; Complement's
TestPushRuleRoomUpgrade)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]


async def _mute(user: User, room_id: str) -> None:
    await user.ok("PUT", f"/pushrules/global/room/{room_id}", {"actions": ["dont_notify"]})


def _room_rules(push_rules: dict[str, Any]) -> dict[str, list[Any]]:
    return {r["rule_id"]: r["actions"] for r in push_rules["global"]["room"]}


async def _synced_push_rules(user: User, since: str) -> dict[str, Any]:
    data = await user.ok("GET", "/sync", params={"since": since, "timeout": "0"})
    for event in data.get("account_data", {}).get("events", []):
        if event["type"] == "m.push_rules":
            content: dict[str, Any] = event["content"]
            return content
    return {}


async def _upgrade(alice: User, old: str, manually: bool) -> str:
    if not manually:
        body = await alice.ok("POST", f"/rooms/{old}/upgrade", {"new_version": "11"})
        replacement: str = body["replacement_room"]
        return replacement
    # A manual upgrade: a new room naming its predecessor, then the tombstone.
    new = await alice.create_room(
        preset="public_chat",
        room_version="11",
        creation_content={"predecessor": {"room_id": old}},
    )
    tombstone = {"body": "This room has been replaced", "replacement_room": new}
    await alice.put_state(old, "m.room.tombstone", tombstone)
    return new


@pytest.mark.parametrize("manually", [False, True])
async def test_room_push_rules_carry_over_to_the_upgraded_room(
    client: Client, manually: bool
) -> None:
    alice = await new_user(client, "alice")
    alice2 = await new_user(client, "alice2")
    old = await alice.create_room(preset="public_chat", room_version="10")
    await alice2.join(old)
    await _mute(alice, old)
    await _mute(alice2, old)
    since = {u.user_id: (await u.ok("GET", "/sync"))["next_batch"] for u in (alice, alice2)}

    new = await _upgrade(alice, old, manually)
    await alice2.join(new)

    for user in (alice, alice2):
        expected = {old: ["dont_notify"], new: ["dont_notify"]}
        synced = await _synced_push_rules(user, since[user.user_id])
        assert {k: v for k, v in _room_rules(synced).items() if k in (old, new)} == expected
        rules = _room_rules(await user.ok("GET", "/pushrules/"))
        assert {k: v for k, v in rules.items() if k in (old, new)} == expected


async def test_room_conditions_tags_and_direct_carry_over(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    old = await alice.create_room(preset="public_chat", room_version="10")
    await bob.join(old)
    condition = {"kind": "event_match", "key": "room_id", "pattern": old}
    await bob.ok(
        "PUT",
        "/pushrules/global/override/quiet",
        {"actions": ["dont_notify"], "conditions": [condition]},
    )
    # a disabled rule is not copied, as in Synapse
    await bob.ok(
        "PUT",
        "/pushrules/global/underride/loud",
        {"actions": ["notify"], "conditions": [condition]},
    )
    await bob.ok("PUT", "/pushrules/global/underride/loud/enabled", {"enabled": False})
    await bob.ok("PUT", f"/user/{bob.user_id}/rooms/{old}/tags/u.work", {"order": 0.5})
    await bob.ok("PUT", f"/user/{bob.user_id}/account_data/m.direct", {alice.user_id: [old]})

    new = await _upgrade(alice, old, manually=False)
    # before bob joins, nothing of his is copied
    assert new not in str(await bob.ok("GET", "/pushrules/"))
    await bob.join(new)

    override = {r["rule_id"]: r for r in (await bob.ok("GET", "/pushrules/"))["global"]["override"]}
    assert override[new]["conditions"] == [{**condition, "pattern": new}]
    assert override[new]["actions"] == ["dont_notify"]
    assert override["quiet"]["conditions"] == [condition]
    underride = (await bob.ok("GET", "/pushrules/"))["global"]["underride"]
    assert new not in {r["rule_id"] for r in underride}
    tags = await bob.ok("GET", f"/user/{bob.user_id}/rooms/{new}/tags")
    assert tags == {"tags": {"u.work": {"order": 0.5}}}
    direct = await bob.ok("GET", f"/user/{bob.user_id}/account_data/m.direct")
    assert direct == {alice.user_id: [old, new]}


async def test_a_profile_change_in_the_new_room_copies_nothing_again(client: Client) -> None:
    alice = await new_user(client, "alice")
    old = await alice.create_room(preset="public_chat", room_version="10")
    await _mute(alice, old)
    new = await _upgrade(alice, old, manually=False)
    # the user's own choice for the new room stays theirs
    await alice.ok("PUT", f"/pushrules/global/room/{new}", {"actions": ["notify"]})
    member = {"membership": "join", "displayname": "Alice again"}
    await alice.put_state(new, "m.room.member", member, state_key=alice.user_id)
    rules = _room_rules(await alice.ok("GET", "/pushrules/"))
    assert rules[new] == ["notify"]
