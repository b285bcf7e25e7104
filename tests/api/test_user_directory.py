"""User directory search: POST /user_directory/search."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.rooms_helpers import V3, User, new_user

Client = TestClient[Any, Any]


async def _search(user: User, term: str, **extra: Any) -> Any:
    return await user.ok("POST", "/user_directory/search", {"search_term": term, **extra})


async def _set_name(user: User, name: str) -> None:
    await user.ok("PUT", f"/profile/{user.user_id}/displayname", {"displayname": name})


def _ids(body: Any) -> list[str]:
    return [r["user_id"] for r in body["results"]]


async def test_search_finds_user_sharing_private_room(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    await alice.invite(room_id, bob)
    await bob.join(room_id)
    await _set_name(bob, "Bobby Tables")
    body = await _search(alice, "bobby")
    assert body == {
        "results": [{"user_id": bob.user_id, "display_name": "Bobby Tables"}],
        "limited": False,
    }


async def test_search_matches_case_insensitive_localpart_and_word(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await _set_name(bob, "Robert Smith")
    assert _ids(await _search(alice, "BOB")) == [bob.user_id]
    assert _ids(await _search(alice, "smi")) == [bob.user_id]


async def test_search_finds_the_searcher_only_through_a_public_room(client_for: Any) -> None:
    """Synapse's rules: sharing a private room with yourself does not count."""
    client = await client_for()
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    await alice.invite(room_id, bob)
    await bob.join(room_id)
    assert _ids(await _search(bob, "@")) == [alice.user_id]
    await bob.create_room(preset="public_chat")
    assert sorted(_ids(await _search(bob, "@"))) == sorted([alice.user_id, bob.user_id])
    # The same database with search_all_users: everyone but the searcher.
    everyone = await client_for(user_directory={"search_all_users": True})
    carol = await new_user(everyone, "carol")
    await carol.create_room(preset="public_chat")
    found = _ids(await _search(carol, "@"))
    assert carol.user_id not in found
    assert {alice.user_id, bob.user_id} <= set(found)


async def test_search_hides_stranger_in_private_room(client: Client) -> None:
    alice = await new_user(client, "alice")
    carol = await new_user(client, "carol")
    await carol.create_room()
    assert _ids(await _search(alice, "carol")) == []


async def test_search_finds_stranger_in_public_room(client: Client) -> None:
    alice = await new_user(client, "alice")
    carol = await new_user(client, "carol")
    await carol.create_room(preset="public_chat")
    assert _ids(await _search(alice, "carol")) == [carol.user_id]


async def test_search_all_users_finds_stranger(client_for: Any) -> None:
    client = await client_for(user_directory={"search_all_users": True})
    alice = await new_user(client, "alice")
    carol = await new_user(client, "carol")
    assert _ids(await _search(alice, "carol")) == [carol.user_id]


async def test_search_cjk_display_name(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await _set_name(bob, "山田太郎")
    assert _ids(await _search(alice, "太郎")) == [bob.user_id]


async def test_search_excludes_deactivated(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bob"}}
    auth["password"] = "password-123"
    await bob.ok("POST", "/account/deactivate", {"auth": auth})
    assert bob.user_id not in _ids(await _search(alice, "bob"))


async def test_search_limit_sets_limited(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="public_chat")
    for name in ("match1", "match2", "match3"):
        await (await new_user(client, name)).join(room_id)
    body = await _search(alice, "match", limit=2)
    assert len(body["results"]) == 2
    assert body["limited"] is True
    body = await _search(alice, "match", limit=3)
    assert len(body["results"]) == 3
    assert body["limited"] is False


async def test_search_like_wildcards_are_literal(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    assert _ids(await _search(alice, "%")) == []
    assert _ids(await _search(alice, "_")) == []


async def test_search_bad_bodies_rejected(client: Client) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request("POST", "/user_directory/search", {})
    assert (status, data["errcode"]) == (400, "M_MISSING_PARAM")
    for body in ({"search_term": 1}, {"search_term": "a", "limit": "5"}):
        status, data = await alice.request("POST", "/user_directory/search", body)
        assert (status, data["errcode"]) == (400, "M_BAD_JSON")
    status, data = await alice.request(
        "POST", "/user_directory/search", {"search_term": "a", "limit": 0}
    )
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


async def test_search_requires_token(client: Client) -> None:
    resp = await client.post(V3 + "/user_directory/search", json={"search_term": "a"})
    assert resp.status == 401


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(st.sampled_from(["search_term", "limit"]), json_values, max_size=2)
    | json_values
)
async def test_search_random_bodies_never_500(client: Client, body: Any) -> None:
    if not hasattr(client, "_fuzz_user"):
        client._fuzz_user = await new_user(client, "fuzzer")  # type: ignore[attr-defined]
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    resp = await client.post(
        V3 + "/user_directory/search", data=json.dumps(body).encode(), headers=user.headers
    )
    assert resp.status < 500
    if resp.status >= 400:
        assert isinstance((await resp.json())["errcode"], str)
    else:
        assert isinstance((await resp.json())["limited"], bool)
