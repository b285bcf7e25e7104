"""Message retention: expired events and their media are deleted from the database and disk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from homeserver.services.clock import FakeClock
from homeserver.services.container import Services
from tests.api.helpers import auth_header, services_of
from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]
DAY_MS = 86_400_000


async def _start(client_for: Callable[..., Any], clock: FakeClock, **retention: Any) -> Client:
    client: Client = await client_for(
        clock=clock,
        retention={"enabled": True, "purge_interval_ms": 3_600_000, **retention},
    )
    return client


async def _count(svc: Services, sql: str, *args: Any) -> int:
    async with svc.db.read() as conn:
        return int(await conn.fetchval(sql, *args))


async def _event_exists(svc: Services, event_id: str) -> bool:
    return await _count(svc, "SELECT COUNT(*) FROM events WHERE event_id = $1", event_id) == 1


async def _upload(client: Client, user: User, data: bytes) -> str:
    resp = await client.post(
        "/_matrix/media/v3/upload",
        data=data,
        headers={**auth_header(user.token), "Content-Type": "application/octet-stream"},
    )
    body = await resp.json()
    assert resp.status == 200, body
    uri: str = body["content_uri"]
    return uri


async def _send_image(user: User, room_id: str, mxc: str, txn: str) -> str:
    data = await user.ok(
        "PUT",
        f"/rooms/{room_id}/send/m.room.message/{txn}",
        {"msgtype": "m.image", "body": "picture.png", "url": mxc},
    )
    event_id: str = data["event_id"]
    return event_id


async def test_purge_deletes_expired_events_and_media_file(
    client_for: Callable[..., Any],
) -> None:
    clock = FakeClock()
    client = await _start(client_for, clock)
    svc = services_of(client)
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    status, _ = await alice.put_state(room, "m.room.retention", {"max_lifetime": DAY_MS})
    assert status == 200
    mxc = await _upload(client, alice, b"picture bytes")
    media_id = mxc.rsplit("/", 1)[1]
    image = await _send_image(alice, room, mxc, "img1")
    old_text = await alice.send(room, "searchable old words")
    clock.advance(2 * DAY_MS / 1000)
    fresh = await alice.send(room, "fresh")

    result = await svc.retention.purge_expired()

    assert result.events == 2
    assert result.media == 1
    assert not await _event_exists(svc, image)
    assert not await _event_exists(svc, old_text)
    assert await _event_exists(svc, fresh)
    assert await _count(svc, "SELECT COUNT(*) FROM event_search WHERE event_id = $1", old_text) == 0
    assert await _count(svc, "SELECT COUNT(*) FROM local_media WHERE media_id = $1", media_id) == 0
    assert not svc.media.files.content_path(media_id).exists()
    status, messages = await alice.request("GET", f"/rooms/{room}/messages?dir=b&limit=50")
    assert status == 200
    ids = {e["event_id"] for e in messages["chunk"]}
    assert fresh in ids
    assert not ids & {image, old_text}
    resp = await client.get(
        f"/_matrix/client/v1/media/download/{mxc.removeprefix('mxc://')}", headers=alice.headers
    )
    assert resp.status == 404


async def test_purge_keeps_state_events_and_latest_event(client_for: Callable[..., Any]) -> None:
    clock = FakeClock()
    client = await _start(client_for, clock, default_max_lifetime_ms=DAY_MS)
    svc = services_of(client)
    alice = await new_user(client, "alice")
    room = await alice.create_room(name="kept name")
    old = await alice.send(room, "old")
    latest = await alice.send(room, "latest")
    state_before = await _count(
        svc, "SELECT COUNT(*) FROM events WHERE room_id = $1 AND state_key IS NOT NULL", room
    )
    clock.advance(3 * DAY_MS / 1000)

    await svc.retention.purge_expired()

    assert not await _event_exists(svc, old)
    assert await _event_exists(svc, latest)
    state_after = await _count(
        svc, "SELECT COUNT(*) FROM events WHERE room_id = $1 AND state_key IS NOT NULL", room
    )
    assert state_after == state_before
    status, name = await alice.request("GET", f"/rooms/{room}/state/m.room.name")
    assert status == 200
    assert name == {"name": "kept name"}
    # The room still takes new events after the purge.
    assert await _event_exists(svc, await alice.send(room, "after purge"))


async def test_purge_keeps_media_still_referenced(client_for: Callable[..., Any]) -> None:
    clock = FakeClock()
    client = await _start(client_for, clock)
    svc = services_of(client)
    alice = await new_user(client, "alice")
    short = await alice.create_room()
    await alice.put_state(short, "m.room.retention", {"max_lifetime": DAY_MS})
    long = await alice.create_room()
    mxc = await _upload(client, alice, b"shared bytes")
    media_id = mxc.rsplit("/", 1)[1]
    expired = await _send_image(alice, short, mxc, "img-short")
    await _send_image(alice, long, mxc, "img-long")
    clock.advance(2 * DAY_MS / 1000)
    await alice.send(short, "newest")

    result = await svc.retention.purge_expired()

    assert not await _event_exists(svc, expired)
    assert result.media == 0
    assert svc.media.files.content_path(media_id).exists()
    assert await _count(svc, "SELECT COUNT(*) FROM local_media WHERE media_id = $1", media_id) == 1


async def test_purge_clamps_room_lifetime_to_allowed_bounds(
    client_for: Callable[..., Any],
) -> None:
    clock = FakeClock()
    client = await _start(
        client_for, clock, allowed_lifetime_min_ms=DAY_MS, allowed_lifetime_max_ms=7 * DAY_MS
    )
    svc = services_of(client)
    alice = await new_user(client, "alice")
    too_short = await alice.create_room()
    await alice.put_state(too_short, "m.room.retention", {"max_lifetime": 1000})
    too_long = await alice.create_room()
    await alice.put_state(too_long, "m.room.retention", {"max_lifetime": 3650 * DAY_MS})
    short_event = await alice.send(too_short, "short")
    long_event = await alice.send(too_long, "long")
    clock.advance(2 * 3600)
    await alice.send(too_short, "newest short")
    await alice.send(too_long, "newest long")

    await svc.retention.purge_expired()
    # 2 hours: the 1 s policy was raised to the 1 day minimum.
    assert await _event_exists(svc, short_event)

    clock.advance(8 * DAY_MS / 1000)
    await svc.retention.purge_expired()
    assert not await _event_exists(svc, short_event)
    # 8 days: the 10 year policy was lowered to the 7 day maximum.
    assert not await _event_exists(svc, long_event)


async def test_purge_keeps_everything_without_policy_or_default(
    client_for: Callable[..., Any],
) -> None:
    clock = FakeClock()
    client = await _start(client_for, clock)
    svc = services_of(client)
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    old = await alice.send(room, "old")
    await alice.send(room, "newer")
    clock.advance(365 * DAY_MS / 1000)

    result = await svc.retention.purge_expired()

    assert result.events == 0
    assert await _event_exists(svc, old)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


async def test_random_retention_content_never_breaks_purge(
    client_for: Callable[..., Any],
) -> None:
    clock = FakeClock()
    client = await _start(
        client_for, clock, allowed_lifetime_min_ms=1000, allowed_lifetime_max_ms=DAY_MS
    )
    svc = services_of(client)
    lifetimes: list[int | None] = []

    @settings(max_examples=200, deadline=None)
    @given(st.dictionaries(st.sampled_from(["max_lifetime", "min_lifetime", "x"]), _json))
    def check(policy: dict[str, Any]) -> None:
        lifetimes.append(svc.retention.max_lifetime(policy))

    check()
    assert all(v is None or 1000 <= v <= DAY_MS for v in lifetimes)
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    for i, content in enumerate([{"max_lifetime": "1"}, {"max_lifetime": -5}, {"x": [1]}]):
        status, body = await alice.put_state(room, "m.room.retention", content)
        assert status in (200, 400), body
        await alice.send(room, f"m{i}")
    clock.advance(2 * DAY_MS / 1000)
    result = await svc.retention.purge_expired()
    assert result.events == 0
