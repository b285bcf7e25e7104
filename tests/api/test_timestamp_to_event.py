"""GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeserver.services.clock import FakeClock
from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]
V1 = "/_matrix/client/v1"
T0 = 1_700_000_000_000


async def lookup(user: User, room_id: str, **params: str) -> tuple[int, Any]:
    resp = await user.client.get(
        f"{V1}/rooms/{room_id}/timestamp_to_event", params=params, headers=user.headers
    )
    return resp.status, await resp.json()


async def room_with_timeline(
    client_for: Callable[..., Any], **create: Any
) -> tuple[FakeClock, User, str, list[str]]:
    clock = FakeClock(T0)
    client = await client_for(clock=clock)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(**(create or {"preset": "private_chat"}))
    events = []
    for i in range(3):
        clock.advance(10)  # T0 + 10 s, + 20 s, + 30 s
        events.append(await alice.send(room_id, f"m{i}"))
    return clock, alice, room_id, events


async def test_timestamp_forwards_finds_first_event_at_or_after(
    client_for: Callable[..., Any],
) -> None:
    _, alice, room_id, events = await room_with_timeline(client_for)
    status, body = await lookup(alice, room_id, ts=str(T0 + 15_000), dir="f")
    assert status == 200
    assert body == {"event_id": events[1], "origin_server_ts": T0 + 20_000}
    _, body = await lookup(alice, room_id, ts=str(T0 + 20_000), dir="f")
    assert body["event_id"] == events[1]


async def test_timestamp_backwards_finds_last_event_at_or_before(
    client_for: Callable[..., Any],
) -> None:
    _, alice, room_id, events = await room_with_timeline(client_for)
    _, body = await lookup(alice, room_id, ts=str(T0 + 25_000), dir="b")
    assert body == {"event_id": events[1], "origin_server_ts": T0 + 20_000}
    _, body = await lookup(alice, room_id, ts=str(T0 + 99_000), dir="b")
    assert body["event_id"] == events[2]


async def test_timestamp_none_in_direction_is_404(client_for: Callable[..., Any]) -> None:
    _, alice, room_id, _ = await room_with_timeline(client_for)
    status, body = await lookup(alice, room_id, ts=str(T0 + 99_000), dir="f")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_timestamp_skips_events_the_user_may_not_see(
    client_for: Callable[..., Any],
) -> None:
    joined_only = {"type": "m.room.history_visibility", "content": {"history_visibility": "joined"}}
    clock, alice, room_id, events = await room_with_timeline(
        client_for, preset="public_chat", initial_state=[joined_only]
    )
    bob = await new_user(alice.client, "bob")
    clock.advance(10)
    await bob.join(room_id)
    # History is "joined": the messages before Bob's join are skipped (the
    # room's first events predate the setting and stay visible).
    status, body = await lookup(bob, room_id, ts=str(T0 + 1), dir="f")
    assert status == 200
    assert body["event_id"] not in events
    assert body["origin_server_ts"] == T0 + 40_000
    status, body = await lookup(bob, room_id, ts=str(T0 + 30_000), dir="b")
    assert status == 200
    assert body["origin_server_ts"] == T0
    _, body = await lookup(alice, room_id, ts=str(T0 + 30_000), dir="b")
    assert body["event_id"] == events[2]


async def test_timestamp_non_member_is_forbidden(client_for: Callable[..., Any]) -> None:
    _, alice, room_id, _ = await room_with_timeline(client_for)
    bob = await new_user(alice.client, "bob")
    status, body = await lookup(bob, room_id, ts=str(T0), dir="f")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


async def test_timestamp_bad_parameters_are_400(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    for params, code in (
        ({"dir": "f"}, "M_MISSING_PARAM"),
        ({"ts": "1"}, "M_MISSING_PARAM"),
        ({"ts": "x", "dir": "f"}, "M_INVALID_PARAM"),
        ({"ts": "1", "dir": "up"}, "M_INVALID_PARAM"),
        ({"ts": "-5", "dir": "f"}, "M_INVALID_PARAM"),
    ):
        status, body = await lookup(alice, room_id, **params)
        assert (status, body["errcode"]) == (400, code), params


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["ts", "dir"]),
        st.text(max_size=25) | st.integers(-(2**70), 2**70).map(str),
        max_size=2,
    ),
    room=st.text(max_size=15),
)
async def test_timestamp_random_params_never_500(
    client: Client, params: dict[str, str], room: str
) -> None:
    if not hasattr(client, "_fuzz_user"):
        user = await new_user(client, "fuzzer")
        client._fuzz_user = user  # type: ignore[attr-defined]
        client._fuzz_room = await user.create_room()  # type: ignore[attr-defined]
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    room_id = quote(room, safe="") or client._fuzz_room  # type: ignore[attr-defined]
    resp = await client.get(
        f"{V1}/rooms/{room_id}/timestamp_to_event", params=params, headers=user.headers
    )
    assert resp.status < 500
    if resp.status >= 400:
        assert isinstance((await resp.json())["errcode"], str)
