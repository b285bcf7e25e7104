"""Deprecated: GET /events, /events/{eventId}, /initialSync, /rooms/{roomId}/initialSync."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.rooms_helpers import V3, User, new_user

Client = TestClient[Any, Any]


async def test_event_by_id_without_room(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    event_id = await alice.send(room_id, "hello")
    body = await alice.ok("GET", f"/events/{event_id}")
    assert (body["event_id"], body["room_id"]) == (event_id, room_id)
    assert body["content"]["body"] == "hello"


async def test_event_by_id_hidden_from_outsider(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    event_id = await alice.send(room_id)
    status, body = await bob.request("GET", f"/events/{event_id}")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    status, body = await bob.request("GET", "/events/$" + "A" * 43)
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_room_initial_sync_has_messages_and_state(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="Legacy")
    for i in range(3):
        await alice.send(room_id, f"m{i}")
    body = await alice.ok("GET", f"/rooms/{room_id}/initialSync")
    assert body["room_id"] == room_id
    assert body["membership"] == "join"
    assert body["visibility"] == "private"
    bodies = [e["content"].get("body") for e in body["messages"]["chunk"]]
    assert bodies[-3:] == ["m0", "m1", "m2"]
    assert isinstance(body["messages"]["start"], str)
    assert isinstance(body["messages"]["end"], str)
    assert {"m.room.create", "m.room.name"} <= {e["type"] for e in body["state"]}


async def test_room_initial_sync_forbidden_for_outsider(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    status, body = await bob.request("GET", f"/rooms/{room_id}/initialSync")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


async def test_initial_sync_lists_rooms(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    joined = await alice.create_room()
    invited = await bob.create_room()
    await bob.invite(invited, alice)
    body = await alice.ok("GET", "/initialSync?limit=2")
    rooms = {r["room_id"]: r for r in body["rooms"]}
    assert rooms[joined]["membership"] == "join"
    assert len(rooms[joined]["messages"]["chunk"]) <= 2
    assert rooms[invited]["membership"] == "invite"
    assert isinstance(body["end"], str)
    assert body["presence"] == []


async def test_events_stream_returns_new_events(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    start = (await alice.ok("GET", "/initialSync"))["end"]
    event_id = await alice.send(room_id, "streamed")
    body = await alice.ok("GET", f"/events?from={start}&timeout=0")
    assert body["start"] == start
    assert any(e.get("event_id") == event_id and e["room_id"] == room_id for e in body["chunk"])
    # Nothing new after ``end``: an empty chunk once the timeout passes.
    again = await alice.ok("GET", f"/events?from={body['end']}&timeout=0")
    assert [e for e in again["chunk"] if "event_id" in e] == []


async def test_events_stream_long_polls(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    start = (await alice.ok("GET", "/initialSync"))["end"]
    waiting = asyncio.create_task(alice.ok("GET", f"/events?from={start}&timeout=5000"))
    await asyncio.sleep(0.2)
    event_id = await alice.send(room_id, "wake")
    body = await asyncio.wait_for(waiting, 5)
    assert any(e.get("event_id") == event_id for e in body["chunk"])


async def test_events_peek_requires_world_readable(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    private = await alice.create_room(preset="public_chat")
    status, body = await bob.request("GET", f"/events?room_id={private}&timeout=0")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    readable = await alice.create_room(preset="public_chat")
    status, _ = await alice.put_state(
        readable, "m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    assert status == 200
    start = (await bob.ok("GET", f"/events?room_id={readable}&timeout=0"))["end"]
    event_id = await alice.send(readable, "peeked")
    body = await bob.ok("GET", f"/events?room_id={readable}&from={start}&timeout=0")
    assert [e["event_id"] for e in body["chunk"]] == [event_id]


async def test_events_bad_params_rejected(client: Client) -> None:
    alice = await new_user(client, "alice")
    for query in ("from=garbage", "timeout=soon", "room_id=nope"):
        status, body = await alice.request("GET", f"/events?{query}")
        assert (status, body["errcode"]) == (400, "M_INVALID_PARAM"), query


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["from", "timeout", "room_id", "limit", "archived"]),
        st.text(max_size=12),
        max_size=3,
    ),
    path=st.sampled_from(["/events", "/initialSync"]),
)
async def test_legacy_random_params_never_500(
    client: Client, params: dict[str, str], path: str
) -> None:
    if not hasattr(client, "_fuzz_user"):
        client._fuzz_user = await new_user(client, "fuzzer")  # type: ignore[attr-defined]
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    if "timeout" in params:
        params["timeout"] = params["timeout"][:2]
    else:
        params["timeout"] = "0"
    resp = await client.get(V3 + path, params=params, headers=user.headers)
    assert resp.status < 500
    if resp.status >= 400:
        assert isinstance((await resp.json())["errcode"], str)
