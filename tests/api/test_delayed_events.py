"""Delayed events (MSC4140): scheduling, timing, management, limits, restarts."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import example, given
from hypothesis import strategies as st

from homeserver.services.clock import FakeClock
from tests.api.helpers import services_of
from tests.api.rooms_helpers import User, new_user
from tests.api.test_accounts_fuzz import FUZZ, _check, raw

Client = TestClient[Any, Any]
UNSTABLE = "/_matrix/client/unstable/org.matrix.msc4140"
DELAY = "org.matrix.msc4140.delay"


async def _schedule_message(user: User, room_id: str, delay_ms: int, body: str) -> str:
    data = await user.ok(
        "PUT",
        f"/rooms/{room_id}/send/m.room.message/d{body}?{DELAY}={delay_ms}",
        {"msgtype": "m.text", "body": body},
    )
    delay_id: str = data["delay_id"]
    return delay_id


async def _bodies(user: User, room_id: str) -> list[str]:
    data = await user.ok("GET", f"/rooms/{room_id}/messages?dir=b&limit=50")
    return [e["content"].get("body") for e in data["chunk"] if e["type"] == "m.room.message"]


async def _fire(client: Client) -> None:
    """Lets the background sender run after the fake clock moved."""
    await services_of(client).delayed_events.send_due()


async def _list(user: User) -> list[dict[str, Any]]:
    resp = await user.client.get(UNSTABLE + "/delayed_events", headers=user.headers)
    assert resp.status == 200
    events: list[dict[str, Any]] = (await resp.json())["delayed_events"]
    return events


async def _manage(user: User, delay_id: str, action: Any) -> tuple[int, Any]:
    resp = await user.client.post(
        f"{UNSTABLE}/delayed_events/{delay_id}", json={"action": action}, headers=user.headers
    )
    return resp.status, await resp.json()


async def test_delayed_message_sent_only_when_due(client_for: Any) -> None:
    clock = FakeClock()
    client = await client_for(clock=clock)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await _schedule_message(alice, room_id, 10_000, "later")
    clock.advance(9.9)
    await _fire(client)
    assert "later" not in await _bodies(alice, room_id)
    clock.advance(0.1)
    await _fire(client)
    assert "later" in await _bodies(alice, room_id)
    assert await _list(alice) == []


async def test_background_task_fires_in_real_time(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await _schedule_message(alice, room_id, 200, "soon")
    for _ in range(100):
        if "soon" in await _bodies(alice, room_id):
            break
        await asyncio.sleep(0.05)
    assert "soon" in await _bodies(alice, room_id)


async def test_delayed_events_listed_for_owner_only(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    resp = await alice.client.put(
        f"/_matrix/client/v3/rooms/{room_id}/state/m.call.member/_{quote(alice.user_id)}_D?{DELAY}=60000",
        json={"application": "m.call"},
        headers=alice.headers,
    )
    assert resp.status == 200
    delay_id = (await resp.json())["delay_id"]
    [listed] = await _list(alice)
    assert listed["delay_id"] == delay_id
    assert listed["room_id"] == room_id
    assert listed["type"] == "m.call.member"
    assert listed["state_key"] == f"_{alice.user_id}_D"
    assert listed["delay"] == 60000
    assert listed["content"] == {"application": "m.call"}
    assert await _list(bob) == []
    status, body = await _manage(bob, delay_id, "cancel")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_restart_pushes_the_send_time_back(client_for: Any) -> None:
    clock = FakeClock()
    client = await client_for(clock=clock)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    delay_id = await _schedule_message(alice, room_id, 10_000, "hb")
    clock.advance(8)
    assert (await _manage(alice, delay_id, "restart"))[0] == 200
    clock.advance(8)
    await _fire(client)
    assert "hb" not in await _bodies(alice, room_id)
    clock.advance(2)
    await _fire(client)
    assert "hb" in await _bodies(alice, room_id)


async def test_cancel_means_never_sent(client_for: Any) -> None:
    clock = FakeClock()
    client = await client_for(clock=clock)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    delay_id = await _schedule_message(alice, room_id, 1000, "gone")
    assert (await _manage(alice, delay_id, "cancel"))[0] == 200
    # A retried cancel succeeds; sending a cancelled event conflicts.
    assert (await _manage(alice, delay_id, "cancel"))[0] == 200
    assert (await _manage(alice, delay_id, "send"))[0] == 409
    clock.advance(5)
    await _fire(client)
    assert "gone" not in await _bodies(alice, room_id)


async def test_send_action_sends_now_and_unauthenticated_path_works(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    first = await _schedule_message(alice, room_id, 3_600_000, "now1")
    second = await _schedule_message(alice, room_id, 3_600_000, "now2")
    assert (await _manage(alice, first, "send"))[0] == 200
    # The newer per-action form needs no access token: the delay id is enough.
    resp = await client.post(f"{UNSTABLE}/delayed_events/{second}/send", json={})
    assert resp.status == 200
    assert {"now1", "now2"} <= set(await _bodies(alice, room_id))
    # Retrying a finished send succeeds; cancelling a sent event conflicts.
    assert (await client.post(f"{UNSTABLE}/delayed_events/{second}/send")).status == 200
    resp = await client.post(f"{UNSTABLE}/delayed_events/{second}/cancel")
    assert resp.status == 409
    resp = await client.post(f"{UNSTABLE}/delayed_events/nope/restart")
    assert (resp.status, (await resp.json())["errcode"]) == (404, "M_NOT_FOUND")


async def test_delayed_state_cancelled_by_another_users_state(client_for: Any) -> None:
    clock = FakeClock()
    client = await client_for(clock=clock)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    resp = await bob.client.put(
        f"/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/?{DELAY}=5000",
        json={"topic": "from the past"},
        headers=bob.headers,
    )
    # Bob may not set the topic (state_default 50): scheduling still works,
    # auth is checked when it is sent. Alice's newer topic cancels it.
    assert resp.status == 200
    status, _ = await alice.put_state(room_id, "m.room.topic", {"topic": "current"})
    assert status == 200
    assert await _list(bob) == []
    clock.advance(10)
    await _fire(client)
    topic = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.topic/")
    assert topic == {"topic": "current"}


async def test_own_state_change_keeps_delayed_state(client_for: Any) -> None:
    clock = FakeClock()
    client = await client_for(clock=clock)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    key = f"_{alice.user_id}_DEV"
    # Element Call's order: schedule the leave, then join.
    resp = await alice.client.put(
        f"/_matrix/client/v3/rooms/{room_id}/state/m.call.member/{quote(key)}?{DELAY}=5000",
        json={},
        headers=alice.headers,
    )
    assert resp.status == 200
    status, _ = await alice.put_state(room_id, "m.call.member", {"application": "m.call"}, key)
    assert status == 200
    assert len(await _list(alice)) == 1
    clock.advance(5)
    await _fire(client)
    member = await alice.ok("GET", f"/rooms/{room_id}/state/m.call.member/{quote(key)}")
    assert member == {}


async def test_failed_send_is_cancelled_with_error(client_for: Any) -> None:
    clock = FakeClock()
    client = await client_for(clock=clock)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    # Bob is not in the room: the send fails when due and is not retried.
    data = await bob.ok(
        "PUT", f"/rooms/{room_id}/send/m.room.message/x?{DELAY}=1000", {"body": "x"}
    )
    clock.advance(2)
    await _fire(client)
    assert await _list(bob) == []
    resp = await client.post(f"{UNSTABLE}/delayed_events/{data['delay_id']}/send")
    assert resp.status == 409


async def test_max_delay_exceeded(client_for: Any) -> None:
    client = await client_for(rtc={"delayed_events": {"max_delay_ms": 1000}})
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await alice.request(
        "PUT", f"/rooms/{room_id}/send/m.room.message/t?{DELAY}=1001", {"body": "x"}
    )
    assert status == 400
    assert body["errcode"] == "M_MAX_DELAY_EXCEEDED"
    assert body["max_delay"] == 1000


async def test_too_many_delayed_events_limited(client_for: Any) -> None:
    client = await client_for(rtc={"delayed_events": {"max_per_user": 2}})
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await _schedule_message(alice, room_id, 60_000, "a")
    await _schedule_message(alice, room_id, 60_000, "b")
    status, body = await alice.request(
        "PUT", f"/rooms/{room_id}/send/m.room.message/c?{DELAY}=60000", {"body": "c"}
    )
    assert status == 429
    assert body["errcode"] == "M_LIMIT_EXCEEDED"


async def test_bad_delay_and_action_rejected(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    for bad in ("0", "-5", "soon", "1.5"):
        status, body = await alice.request(
            "PUT", f"/rooms/{room_id}/send/m.room.message/b{bad}?{DELAY}={bad}", {"body": "x"}
        )
        assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")
    delay_id = await _schedule_message(alice, room_id, 60_000, "keep")
    assert (await _manage(alice, delay_id, "explode"))[1]["errcode"] == "M_INVALID_PARAM"
    assert (await _manage(alice, delay_id, 5))[1]["errcode"] == "M_BAD_JSON"
    resp = await client.post(f"{UNSTABLE}/delayed_events/{delay_id}/explode")
    assert (await resp.json())["errcode"] == "M_INVALID_PARAM"


async def test_delayed_event_survives_restart(client_for: Any) -> None:
    clock = FakeClock()
    first = await client_for(clock=clock)
    alice = await new_user(first, "alice")
    room_id = await alice.create_room()
    await _schedule_message(alice, room_id, 10_000, "after-restart")
    await first.close()
    later = FakeClock(clock.time_ms() + 20_000)
    second = await client_for(clock=later)
    alice.client = second
    # The new app's background task reads the table on start and sends it.
    for _ in range(100):
        if "after-restart" in await _bodies(alice, room_id):
            break
        await asyncio.sleep(0.05)
    assert "after-restart" in await _bodies(alice, room_id)


async def test_versions_advertises_msc4140(client: Client) -> None:
    resp = await client.get("/_matrix/client/versions")
    assert (await resp.json())["unstable_features"]["org.matrix.msc4140"] is True


@FUZZ
@given(data=raw, delay_id=st.text(min_size=1, max_size=12), delay=st.text(max_size=8))
@example(data=b"{}", delay_id="\x00", delay="")
async def test_delayed_event_endpoints_random_input_never_500(
    client: Client, data: bytes, delay_id: str, delay: str
) -> None:
    if not hasattr(client, "_fuzz_user"):
        user = await new_user(client, "fuzzer")
        client._fuzz_user = (user, await user.create_room())  # type: ignore[attr-defined]
    user, room_id = client._fuzz_user  # type: ignore[attr-defined]
    path = quote(delay_id, safe="")
    await _check(
        await client.post(f"{UNSTABLE}/delayed_events/{path}", data=data, headers=user.headers)
    )
    await _check(await client.post(f"{UNSTABLE}/delayed_events/{path}/send", data=data))
    await _check(
        await client.put(
            f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{path}",
            params={DELAY: delay},
            data=data,
            headers=user.headers,
        )
    )
    body = json.dumps({"action": delay_id})
    await _check(
        await client.post(f"{UNSTABLE}/delayed_events/{path}", data=body, headers=user.headers)
    )
