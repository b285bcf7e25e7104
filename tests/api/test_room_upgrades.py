"""POST /rooms/{roomId}/upgrade."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.rooms_helpers import V3, User, new_user

Client = TestClient[Any, Any]


async def state(user: User, room_id: str, event_type: str) -> Any:
    return await user.ok("GET", f"/rooms/{room_id}/state/{event_type}/")


async def test_upgrade_creates_replacement_with_copied_state(client: Client) -> None:
    alice = await new_user(client, "alice")
    old = await alice.create_room(
        room_version="10",
        preset="public_chat",
        name="Old name",
        topic="Old topic",
        room_alias_name="upg",
        visibility="public",
    )
    await alice.put_state(old, "m.room.avatar", {"url": "mxc://test.local/a"})
    body = await alice.ok("POST", f"/rooms/{old}/upgrade", {"new_version": "11"})
    new = body["replacement_room"]
    create = await state(alice, new, "m.room.create")
    assert create["room_version"] == "11"
    assert create["predecessor"]["room_id"] == old
    assert (await state(alice, new, "m.room.name"))["name"] == "Old name"
    assert (await state(alice, new, "m.room.topic"))["topic"] == "Old topic"
    assert (await state(alice, new, "m.room.avatar"))["url"] == "mxc://test.local/a"
    assert (await state(alice, new, "m.room.join_rules"))["join_rule"] == "public"
    assert (await state(alice, new, "m.room.canonical_alias"))["alias"] == "#upg:test.local"
    tombstone = await state(alice, old, "m.room.tombstone")
    assert tombstone["replacement_room"] == new
    resolved = await alice.ok("GET", "/directory/room/" + quote("#upg:test.local", safe=""))
    assert resolved["room_id"] == new
    assert await alice.ok("GET", f"/directory/list/room/{new}") == {"visibility": "public"}
    assert await alice.ok("GET", f"/directory/list/room/{old}") == {"visibility": "private"}
    old_levels = await state(alice, old, "m.room.power_levels")
    assert old_levels["events_default"] >= 50
    assert old_levels["invite"] >= 50
    new_levels = await state(alice, new, "m.room.power_levels")
    assert new_levels["users"][alice.user_id] == 100


async def test_upgrade_to_v12_leaves_creator_out_of_users(client: Client) -> None:
    alice = await new_user(client, "alice")
    old = await alice.create_room(room_version="11")
    new = (await alice.ok("POST", f"/rooms/{old}/upgrade", {"new_version": "12"}))[
        "replacement_room"
    ]
    levels = await state(alice, new, "m.room.power_levels")
    assert alice.user_id not in levels.get("users", {})
    create = await state(alice, new, "m.room.create")
    assert create["predecessor"] == {"room_id": old}


async def test_upgrade_raises_upgrader_then_restores_levels(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    old = await alice.create_room(
        room_version="10",
        preset="public_chat",
        name="N",
        power_level_content_override={"events": {"m.room.tombstone": 50, "m.room.name": 80}},
    )
    await bob.join(old)
    status, _ = await alice.put_state(
        old,
        "m.room.power_levels",
        {
            "users": {alice.user_id: 100, bob.user_id: 60},
            "events": {"m.room.tombstone": 50, "m.room.name": 80},
        },
    )
    assert status == 200
    new = (await bob.ok("POST", f"/rooms/{old}/upgrade", {"new_version": "11"}))["replacement_room"]
    assert (await state(bob, new, "m.room.name"))["name"] == "N"
    levels = await state(bob, new, "m.room.power_levels")
    assert levels["users"][bob.user_id] == 60
    assert levels["users"][alice.user_id] == 100


async def test_upgrade_without_tombstone_power_is_forbidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    old = await alice.create_room(preset="public_chat")
    await bob.join(old)
    status, body = await bob.request("POST", f"/rooms/{old}/upgrade", {"new_version": "11"})
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


async def test_upgrade_not_member_is_forbidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    old = await alice.create_room()
    status, body = await bob.request("POST", f"/rooms/{old}/upgrade", {"new_version": "11"})
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


async def test_upgrade_unknown_version_is_400(client: Client) -> None:
    alice = await new_user(client, "alice")
    old = await alice.create_room()
    status, body = await alice.request("POST", f"/rooms/{old}/upgrade", {"new_version": "999"})
    assert (status, body["errcode"]) == (400, "M_UNSUPPORTED_ROOM_VERSION")
    status, body = await alice.request("POST", f"/rooms/{old}/upgrade", {})
    assert (status, body["errcode"]) == (400, "M_MISSING_PARAM")


async def test_upgrade_twice_is_forbidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    old = await alice.create_room()
    await alice.ok("POST", f"/rooms/{old}/upgrade", {"new_version": "11"})
    status, body = await alice.request("POST", f"/rooms/{old}/upgrade", {"new_version": "11"})
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


async def test_upgrade_old_room_blocks_unprivileged_messages(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    old = await alice.create_room(preset="public_chat")
    await bob.join(old)
    await alice.ok("POST", f"/rooms/{old}/upgrade", {"new_version": "11"})
    status, body = await bob.request("PUT", f"/rooms/{old}/send/m.room.message/t1", {"body": "x"})
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(
        st.sampled_from(["new_version", "additional_creators"]) | st.text(max_size=5),
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=10)
        | st.lists(st.text(max_size=12), max_size=3),
        max_size=3,
    )
    | st.lists(st.integers(), max_size=2)
)
async def test_upgrade_random_bodies_never_500(client: Client, body: Any) -> None:
    if not hasattr(client, "_fuzz_user"):
        user = await new_user(client, "fuzzer")
        client._fuzz_user = user  # type: ignore[attr-defined]
        client._fuzz_room = await user.create_room()  # type: ignore[attr-defined]
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    room = client._fuzz_room  # type: ignore[attr-defined]
    resp = await client.post(
        f"{V3}/rooms/{room}/upgrade", data=json.dumps(body).encode(), headers=user.headers
    )
    assert resp.status < 500
    if resp.status == 200:
        # Keep upgrading the live room, not the tombstoned one.
        client._fuzz_room = (await resp.json())["replacement_room"]  # type: ignore[attr-defined]
    else:
        assert isinstance((await resp.json())["errcode"], str)


# MSC4289 (v12): the creators of the new room (the upgrader and the body's
# ``additional_creators``) have infinite power, so the copied power levels
# leave them out, and the old room's creators are not carried over as
# ordinary users (Complement's TestMSC4289PrivilegedRoomCreators_Upgrades).
_UPGRADE_CASES = [
    # (old version, old users (by name), upgrader, additional creators, want users)
    ("11", {"bob": 100}, "bob", None, {}),
    ("11", {"bob": 100, "charlie": 100}, "bob", None, {"charlie": 100}),
    ("12", {"bob": 150}, "bob", ["charlie"], {}),
    ("12", {"bob": 150, "charlie": 50}, "bob", ["charlie"], {}),
    ("11", {"alice": 100, "bob": 100}, "alice", ["bob"], {}),
    ("11", {"alice": 100, "bob": 100, "charlie": 50}, "alice", ["bob"], {"charlie": 50}),
]


@pytest.mark.parametrize(("old_version", "old_users", "upgrader", "extra", "want"), _UPGRADE_CASES)
async def test_upgrade_to_v12_levels_leave_out_every_creator(
    client: Client,
    old_version: str,
    old_users: dict[str, int],
    upgrader: str,
    extra: list[str] | None,
    want: dict[str, int],
) -> None:
    users = {name: await new_user(client, name) for name in ("alice", "bob", "charlie")}
    alice = users["alice"]
    old = await alice.create_room(room_version=old_version, preset="public_chat")
    for name in ("bob", "charlie"):
        await users[name].join(old)
    status, _ = await alice.put_state(
        old, "m.room.power_levels", {"users": {users[n].user_id: v for n, v in old_users.items()}}
    )
    assert status == 200
    body: dict[str, Any] = {"new_version": "12"}
    if extra is not None:
        body["additional_creators"] = [users[n].user_id for n in extra]
    doer = users[upgrader]
    new = (await doer.ok("POST", f"/rooms/{old}/upgrade", body))["replacement_room"]
    create = await state(doer, new, "m.room.create")
    if extra:
        assert create["additional_creators"] == [users[n].user_id for n in extra]
    else:
        assert "additional_creators" not in create
    levels = await state(doer, new, "m.room.power_levels")
    assert levels.get("users", {}) == {users[n].user_id: v for n, v in want.items()}
