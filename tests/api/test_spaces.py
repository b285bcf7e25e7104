"""GET /_matrix/client/v1/rooms/{roomId}/hierarchy."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]
V1 = "/_matrix/client/v1"


async def hierarchy(user: User, room_id: str, **params: str) -> tuple[int, Any]:
    resp = await user.client.get(
        f"{V1}/rooms/{room_id}/hierarchy", params=params, headers=user.headers
    )
    return resp.status, await resp.json()


async def add_child(
    user: User, space: str, child: str, *, suggested: bool = False, order: str | None = None
) -> None:
    content: dict[str, Any] = {"via": ["test.local"]}
    if suggested:
        content["suggested"] = True
    if order is not None:
        content["order"] = order
    status, body = await user.put_state(space, "m.space.child", content, state_key=child)
    assert status == 200, body


async def new_space(user: User, name: str, **body: Any) -> str:
    return await user.create_room(
        name=name, creation_content={"type": "m.space"}, preset="public_chat", **body
    )


async def test_hierarchy_walks_depth_first_in_child_order(client: Client) -> None:
    alice = await new_user(client, "alice")
    space = await new_space(alice, "Top")
    sub = await new_space(alice, "Sub")
    a = await alice.create_room(name="A", preset="public_chat")
    b = await alice.create_room(name="B", preset="public_chat")
    deep = await alice.create_room(name="Deep", preset="public_chat")
    await add_child(alice, space, b, order="b")
    await add_child(alice, space, sub, order="a")
    await add_child(alice, space, a, order="c")
    await add_child(alice, sub, deep)
    status, body = await hierarchy(alice, space)
    assert status == 200
    assert [r["room_id"] for r in body["rooms"]] == [space, sub, deep, b, a]
    top = body["rooms"][0]
    assert top["room_type"] == "m.space"
    assert top["name"] == "Top"
    assert top["num_joined_members"] == 1
    assert {c["state_key"] for c in top["children_state"]} == {a, b, sub}
    child = top["children_state"][0]
    assert set(child) == {"type", "state_key", "content", "sender", "origin_server_ts"}
    assert "next_batch" not in body


async def test_hierarchy_max_depth_limits_the_walk(client: Client) -> None:
    alice = await new_user(client, "alice")
    space = await new_space(alice, "Top")
    sub = await new_space(alice, "Sub")
    deep = await alice.create_room(preset="public_chat")
    await add_child(alice, space, sub)
    await add_child(alice, sub, deep)
    _, body = await hierarchy(alice, space, max_depth="1")
    assert [r["room_id"] for r in body["rooms"]] == [space, sub]
    # Children of rooms at the maximum depth are still described.
    assert [c["state_key"] for c in body["rooms"][1]["children_state"]] == [deep]
    _, body = await hierarchy(alice, space, max_depth="0")
    assert [r["room_id"] for r in body["rooms"]] == [space]


async def test_hierarchy_suggested_only(client: Client) -> None:
    alice = await new_user(client, "alice")
    space = await new_space(alice, "Top")
    suggested = await alice.create_room(preset="public_chat")
    other = await alice.create_room(preset="public_chat")
    await add_child(alice, space, suggested, suggested=True)
    await add_child(alice, space, other)
    _, body = await hierarchy(alice, space, suggested_only="true")
    assert [r["room_id"] for r in body["rooms"]] == [space, suggested]


async def test_hierarchy_ignores_children_without_via(client: Client) -> None:
    alice = await new_user(client, "alice")
    space = await new_space(alice, "Top")
    child = await alice.create_room(preset="public_chat")
    status, _ = await alice.put_state(space, "m.space.child", {"via": []}, state_key=child)
    assert status == 200
    _, body = await hierarchy(alice, space)
    assert [r["room_id"] for r in body["rooms"]] == [space]
    assert body["rooms"][0]["children_state"] == []


async def test_hierarchy_paginates_with_from(client: Client) -> None:
    alice = await new_user(client, "alice")
    space = await new_space(alice, "Top")
    children = [await alice.create_room(preset="public_chat") for _ in range(4)]
    for i, child in enumerate(children):
        await add_child(alice, space, child, order=str(i))
    seen: list[str] = []
    _, body = await hierarchy(alice, space, limit="2")
    while True:
        seen.extend(r["room_id"] for r in body["rooms"])
        if "next_batch" not in body:
            break
        status, body = await hierarchy(alice, space, limit="2", **{"from": body["next_batch"]})
        assert status == 200
    assert seen == [space, *children]


async def test_hierarchy_token_with_changed_parameters_is_400(client: Client) -> None:
    alice = await new_user(client, "alice")
    space = await new_space(alice, "Top")
    for _ in range(2):
        await add_child(alice, space, await alice.create_room(preset="public_chat"))
    _, body = await hierarchy(alice, space, limit="1")
    token = body["next_batch"]
    status, body = await hierarchy(
        alice, space, limit="1", suggested_only="true", **{"from": token}
    )
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")
    status, body = await hierarchy(alice, space, **{"from": "bogus"})
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")


async def test_hierarchy_hides_rooms_the_user_cannot_see(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    space = await new_space(alice, "Top")
    public = await alice.create_room(preset="public_chat")
    private = await alice.create_room(preset="private_chat")
    restricted = await alice.create_room(
        preset="private_chat",
        room_version="10",
        initial_state=[
            {
                "type": "m.room.join_rules",
                "content": {
                    "join_rule": "restricted",
                    "allow": [{"type": "m.room_membership", "room_id": space}],
                },
            }
        ],
    )
    for child in (public, private, restricted):
        await add_child(alice, space, child)
    _, body = await hierarchy(alice, space)
    assert {r["room_id"] for r in body["rooms"]} == {space, public, private, restricted}
    _, body = await hierarchy(bob, space)
    # Not in the space yet: the restricted room's allow list does not apply.
    assert {r["room_id"] for r in body["rooms"]} == {space, public}
    await bob.join(space)
    _, body = await hierarchy(bob, space)
    assert {r["room_id"] for r in body["rooms"]} == {space, public, restricted}


async def test_hierarchy_of_private_room_is_forbidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room = await alice.create_room(preset="private_chat")
    status, body = await hierarchy(bob, room)
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    status, body = await hierarchy(bob, "!unknown:test.local")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


async def test_hierarchy_bad_parameters_are_400(client: Client) -> None:
    alice = await new_user(client, "alice")
    space = await new_space(alice, "Top")
    for params in ({"limit": "0"}, {"max_depth": "-1"}, {"limit": "x"}, {"suggested_only": "x"}):
        status, body = await hierarchy(alice, space, **params)
        assert (status, body["errcode"]) == (400, "M_INVALID_PARAM"), params


async def test_hierarchy_survives_cycles(client: Client) -> None:
    alice = await new_user(client, "alice")
    one = await new_space(alice, "One")
    two = await new_space(alice, "Two")
    await add_child(alice, one, two)
    await add_child(alice, two, one)
    _, body = await hierarchy(alice, one)
    assert [r["room_id"] for r in body["rooms"]] == [one, two]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["limit", "max_depth", "from", "suggested_only"]),
        st.text(max_size=12),
        max_size=4,
    ),
    room=st.text(max_size=15),
)
async def test_hierarchy_random_params_never_500(
    client: Client, params: dict[str, str], room: str
) -> None:
    if not hasattr(client, "_fuzz_user"):
        client._fuzz_user = await new_user(client, "fuzzer")  # type: ignore[attr-defined]
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    resp = await client.get(
        f"{V1}/rooms/{quote(room, safe='') or 'x'}/hierarchy", params=params, headers=user.headers
    )
    assert resp.status < 500
    if resp.status >= 400:
        body = await resp.json()
        assert isinstance(body["errcode"], str)


async def test_hierarchy_does_not_follow_children_of_plain_rooms(client: Client) -> None:
    alice = await new_user(client, "alice")
    space = await new_space(alice, "Top")
    room = await alice.create_room(name="R2", preset="public_chat")
    behind = await alice.create_room(name="R5", preset="public_chat")
    await add_child(alice, space, room)
    # Only spaces have children: this link is ignored (Complement's R2 -> R5).
    await add_child(alice, room, behind)
    _, body = await hierarchy(alice, space)
    assert [r["room_id"] for r in body["rooms"]] == [space, room]
    assert body["rooms"][1]["children_state"] == []
    # Asked about the plain room itself, its children are not listed either.
    _, body = await hierarchy(alice, room)
    assert [r["room_id"] for r in body["rooms"]] == [room]
    assert body["rooms"][0]["children_state"] == []
