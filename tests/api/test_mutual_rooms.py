"""GET /_matrix/client/v1/mutual_rooms."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import services_of
from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]
PATH = "/_matrix/client/v1/mutual_rooms"


async def _get(user: User, **params: str) -> tuple[int, Any]:
    resp = await user.client.get(PATH, params=params, headers=user.headers)
    return resp.status, await resp.json()


async def test_mutual_rooms_lists_shared_joined_rooms(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    shared = await alice.create_room(preset="public_chat")
    await bob.join(shared)
    await alice.create_room()  # alice only
    invited = await alice.create_room()
    await alice.invite(invited, bob)  # invited, not joined
    status, body = await _get(alice, user_id=bob.user_id)
    assert status == 200
    assert body == {"joined": [shared], "count": 1}


async def test_mutual_rooms_paginates(client: Client) -> None:
    services_of(client).user_directory.mutual_rooms_page = 2
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    rooms = []
    for _ in range(3):
        room_id = await alice.create_room(preset="public_chat")
        await bob.join(room_id)
        rooms.append(room_id)
    status, first = await _get(alice, user_id=bob.user_id)
    assert status == 200
    assert (len(first["joined"]), first["count"]) == (2, 3)
    status, second = await _get(alice, user_id=bob.user_id, **{"from": first["next_batch"]})
    assert status == 200
    assert "next_batch" not in second
    assert sorted(first["joined"] + second["joined"]) == sorted(rooms)


async def test_mutual_rooms_unknown_user_empty(client: Client) -> None:
    alice = await new_user(client, "alice")
    status, body = await _get(alice, user_id="@nobody:test.local")
    assert (status, body) == (200, {"joined": [], "count": 0})


async def test_mutual_rooms_bad_params_rejected(client: Client) -> None:
    alice = await new_user(client, "alice")
    status, body = await _get(alice)
    assert (status, body["errcode"]) == (400, "M_MISSING_PARAM")
    for params in (
        {"user_id": "bob"},
        {"user_id": alice.user_id},
        {"user_id": "@bob:test.local", "from": "zzz"},
    ):
        status, body = await _get(alice, **params)
        assert (status, body["errcode"]) == (400, "M_INVALID_PARAM"), params


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(user_id=st.text(max_size=30), token=st.none() | st.text(max_size=12))
async def test_mutual_rooms_random_params_never_500(
    client: Client, user_id: str, token: str | None
) -> None:
    if not hasattr(client, "_fuzz_user"):
        client._fuzz_user = await new_user(client, "fuzzer")  # type: ignore[attr-defined]
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    params = {"user_id": user_id} if token is None else {"user_id": user_id, "from": token}
    status, body = await _get(user, **params)
    assert status < 500
    if status >= 400:
        assert isinstance(body["errcode"], str)
