"""Room tags: /user/{userId}/rooms/{roomId}/tags, delivered by /sync as m.tag."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.rooms_helpers import V3, User, new_user

Client = TestClient[Any, Any]


def _tags(user: User, room_id: str) -> str:
    return f"/user/{user.user_id}/rooms/{room_id}/tags"


async def test_tags_empty_when_none_set(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    assert await alice.ok("GET", _tags(alice, room_id)) == {"tags": {}}


async def test_put_tag_then_get_and_delete(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await alice.ok("PUT", _tags(alice, room_id) + "/m.favourite", {"order": 0.25})
    await alice.ok("PUT", _tags(alice, room_id) + "/u.work", {})
    got = await alice.ok("GET", _tags(alice, room_id))
    assert got == {"tags": {"m.favourite": {"order": 0.25}, "u.work": {}}}
    await alice.ok("DELETE", _tags(alice, room_id) + "/m.favourite")
    assert await alice.ok("GET", _tags(alice, room_id)) == {"tags": {"u.work": {}}}
    # Deleting an absent tag is fine.
    await alice.ok("DELETE", _tags(alice, room_id) + "/m.favourite")


async def test_tags_appear_in_sync_room_account_data(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await alice.ok("PUT", _tags(alice, room_id) + "/u.x", {"order": 1})
    body = await alice.ok("GET", "/sync")
    events = body["rooms"]["join"][room_id]["account_data"]["events"]
    assert {"type": "m.tag", "content": {"tags": {"u.x": {"order": 1}}}} in events


async def test_tags_of_other_user_forbidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    for method, suffix, body in (
        ("GET", "", None),
        ("PUT", "/u.x", {}),
        ("DELETE", "/u.x", None),
    ):
        status, data = await bob.request(method, _tags(alice, room_id) + suffix, body)
        assert (status, data["errcode"]) == (403, "M_FORBIDDEN")


async def test_put_tag_bad_order_rejected(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    for order in (1.5, -0.1, "0.5", True, [1]):
        status, data = await alice.request("PUT", _tags(alice, room_id) + "/u.x", {"order": order})
        assert (status, data["errcode"]) == (400, "M_BAD_JSON"), order


async def test_tags_bad_room_id_rejected(client: Client) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request("GET", _tags(alice, "not-a-room"))
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


async def test_put_tag_too_long_rejected(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, data = await alice.request("PUT", _tags(alice, room_id) + "/" + "x" * 300, {})
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(st.sampled_from(["order", "x"]), json_values, max_size=2) | json_values,
    tag=st.text(min_size=1, max_size=20).filter(lambda t: "/" not in t and t not in (".", "..")),
)
async def test_put_tag_random_bodies_never_500(client: Client, body: Any, tag: str) -> None:
    if not hasattr(client, "_fuzz_user"):
        user = await new_user(client, "fuzzer")
        client._fuzz_user = user  # type: ignore[attr-defined]
        client._fuzz_room = await user.create_room()  # type: ignore[attr-defined]
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    room_id: str = client._fuzz_room  # type: ignore[attr-defined]
    path = V3 + _tags(user, room_id) + "/" + quote(tag, safe="")
    resp = await client.put(path, data=json.dumps(body).encode(), headers=user.headers)
    assert resp.status < 500
    if resp.status >= 400:
        assert isinstance((await resp.json())["errcode"], str)
