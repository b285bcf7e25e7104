"""Transactions pushed to a real local appservice: interest, order, outages,
restarts; ping; the ts override; the appservice room directory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.fake_bridge import AS_TOKEN, FakeBridge, registration, write_registration
from tests.api.helpers import REGISTER, auth_header, services_of
from tests.api.rooms_helpers import V3, new_user

BOT = "@bridgebot:test.local"


@pytest.fixture
async def bridge() -> AsyncIterator[FakeBridge]:
    fake = FakeBridge()
    await fake.start()
    yield fake
    await fake.close()


def _fast_retries(client: Any) -> None:
    sender = services_of(client).appservices.sender
    sender.initial_backoff_s = 0.02
    sender.max_backoff_s = 0.1


async def _start(client_for: Any, tmp_path: Path, url: str | None, **reg: Any) -> Any:
    path = write_registration(tmp_path, registration(url, **reg))
    client = await client_for(app_service_config_files=[path])
    _fast_retries(client)
    return client


async def _puppet(client: Any, localpart: str) -> str:
    body = {"type": "m.login.application_service", "username": localpart, "inhibit_login": True}
    resp = await client.post(REGISTER, json=body, headers=auth_header(AS_TOKEN))
    assert resp.status == 200
    user_id: str = (await resp.json())["user_id"]
    return user_id


async def _as_request(
    client: Any, method: str, path: str, body: Any, user_id: str | None = None, **params: str
) -> tuple[int, Any]:
    if user_id is not None:
        params["user_id"] = user_id
    resp = await client.request(
        method, V3 + path, json=body, params=params, headers=auth_header(AS_TOKEN)
    )
    return resp.status, await resp.json()


def _bodies(bridge: FakeBridge) -> list[str]:
    return [e["content"].get("body") for e in bridge.events() if e["type"] == "m.room.message"]


async def _room_with_puppet(client: Any) -> tuple[Any, str]:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="public_chat")
    puppet = await _puppet(client, "bridge_alice")
    status, _ = await _as_request(client, "POST", f"/join/{room_id}", {}, user_id=puppet)
    assert status == 200
    return alice, room_id


async def test_transactions_deliver_interested_events_in_order(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url)
    alice, room_id = await _room_with_puppet(client)
    other_room = await alice.create_room()
    await alice.send(other_room, "not for the bridge")
    for i in range(5):
        await alice.send(room_id, f"m{i}")
    await bridge.wait_for(lambda b: len(_bodies(b)) >= 5)
    assert _bodies(bridge) == [f"m{i}" for i in range(5)]
    assert all(e["room_id"] == room_id for e in bridge.events())
    txn_ids = [int(t) for t, _ in bridge.txns]
    assert txn_ids == sorted(set(txn_ids))
    assert bridge.bad_auth == 0


async def test_transactions_include_room_when_alias_in_namespace(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    alias = quote("#bridge_room:test.local")
    await alice.ok("PUT", f"/directory/room/{alias}", {"room_id": room_id})
    await alice.send(room_id, "via alias")
    await bridge.wait_for(lambda b: "via alias" in _bodies(b))


async def test_delivery_resumes_when_appservice_back(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url)
    alice, room_id = await _room_with_puppet(client)
    await bridge.wait_for(lambda b: len(b.txns) >= 1)
    bridge.down = True
    for i in range(3):
        await alice.send(room_id, f"late{i}")
    start = bridge.attempts
    await bridge.wait_for(lambda b: b.attempts >= start + 3)
    assert await services_of(client).appservices.sender.pending_count("bridge") == 1
    assert not any(b.startswith("late") for b in _bodies(bridge))
    bridge.down = False
    await bridge.wait_for(lambda b: len([x for x in _bodies(b) if x.startswith("late")]) == 3)
    assert [x for x in _bodies(bridge) if x.startswith("late")] == ["late0", "late1", "late2"]


async def test_delivery_resumes_when_homeserver_restarts(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url)
    alice, room_id = await _room_with_puppet(client)
    await bridge.wait_for(lambda b: len(b.txns) >= 1)
    bridge.down = True
    for i in range(3):
        await alice.send(room_id, f"r{i}")
    start = bridge.attempts
    await bridge.wait_for(lambda b: b.attempts > start)
    await client.close()
    bridge.down = False
    restarted = await _start(client_for, tmp_path, bridge.url)
    await bridge.wait_for(lambda b: len([x for x in _bodies(b) if x.startswith("r")]) == 3)
    assert [x for x in _bodies(bridge) if x.startswith("r")] == ["r0", "r1", "r2"]
    # New events after the restart follow, still in order.
    status, _ = await _as_request(
        restarted,
        "PUT",
        f"/rooms/{room_id}/send/m.room.message/after",
        {"body": "r3"},
        user_id="@bridge_alice:test.local",
    )
    assert status == 200
    await bridge.wait_for(lambda b: "r3" in _bodies(b))


async def test_ts_override_honoured_when_appservice(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url)
    alice, room_id = await _room_with_puppet(client)
    status, data = await _as_request(
        client,
        "PUT",
        f"/rooms/{room_id}/send/m.room.message/ts1",
        {"body": "old"},
        user_id="@bridge_alice:test.local",
        ts="1234567",
    )
    assert status == 200
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{data['event_id']}")
    assert event["origin_server_ts"] == 1234567
    assert event["sender"] == "@bridge_alice:test.local"


async def test_ts_override_ignored_when_normal_user(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path, None)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    data = await alice.ok(
        "PUT", f"/rooms/{room_id}/send/m.room.message/t1", {"body": "x"}, params={"ts": "5"}
    )
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{data['event_id']}")
    assert event["origin_server_ts"] != 5


async def test_ts_override_invalid_param_when_not_integer(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url)
    _, room_id = await _room_with_puppet(client)
    status, data = await _as_request(
        client, "PUT", f"/rooms/{room_id}/send/m.room.message/t2", {}, ts="soon"
    )
    assert status == 400
    assert data["errcode"] == "M_INVALID_PARAM"


PING = "/_matrix/client/v1/appservice/{}/ping"


async def test_ping_returns_duration_when_appservice_up(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url)
    resp = await client.post(
        PING.format("bridge"), json={"transaction_id": "abc"}, headers=auth_header(AS_TOKEN)
    )
    assert resp.status == 200
    assert isinstance((await resp.json())["duration_ms"], int)
    assert bridge.pings == [{"transaction_id": "abc"}]


async def test_ping_bad_status_when_appservice_fails(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url)
    bridge.ping_status = 500
    resp = await client.post(PING.format("bridge"), json={}, headers=auth_header(AS_TOKEN))
    data = await resp.json()
    assert resp.status == 502
    assert data["errcode"] == "M_BAD_STATUS"
    assert data["status"] == 500


async def test_ping_timeout_when_appservice_slow(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url)
    services_of(client).appservices.ping_timeout_s = 0.1
    bridge.ping_delay_s = 1.0
    resp = await client.post(PING.format("bridge"), json={}, headers=auth_header(AS_TOKEN))
    assert resp.status == 504
    assert (await resp.json())["errcode"] == "M_CONNECTION_TIMEOUT"


async def test_ping_connection_failed_when_appservice_gone(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    url = bridge.url
    await bridge.close()
    client = await _start(client_for, tmp_path, url)
    resp = await client.post(PING.format("bridge"), json={}, headers=auth_header(AS_TOKEN))
    assert resp.status == 502
    assert (await resp.json())["errcode"] == "M_CONNECTION_FAILED"


async def test_ping_url_not_set_when_no_url(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path, None)
    resp = await client.post(PING.format("bridge"), json={}, headers=auth_header(AS_TOKEN))
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_URL_NOT_SET"


async def test_ping_forbidden_when_other_appservice(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path, None)
    resp = await client.post(PING.format("other"), json={}, headers=auth_header(AS_TOKEN))
    assert resp.status == 403
    alice = await new_user(client, "alice")
    resp = await client.post(PING.format("bridge"), json={}, headers=alice.headers)
    assert resp.status == 403


async def test_network_directory_publishes_when_appservice(client_for: Any, tmp_path: Path) -> None:
    client = await _start(client_for, tmp_path, None)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    path = f"/directory/list/appservice/irc/{room_id}"
    status, _ = await _as_request(client, "PUT", path, {"visibility": "public"})
    assert status == 200
    listed = await alice.ok("GET", f"/directory/list/room/{room_id}")
    assert listed["visibility"] == "public"
    status, _ = await alice.request("PUT", path, {"visibility": "public"})
    assert status == 403


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
raw_bodies = json_values.map(lambda b: json.dumps(b).encode()) | st.binary(max_size=30)
params = st.dictionaries(
    st.sampled_from(["ts", "user_id", "device_id", "org.matrix.msc3202.device_id"]),
    st.text(max_size=20),
    max_size=3,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=raw_bodies,
    query=params,
    target=st.sampled_from(["ping", "directory", "send", "register"]),
)
async def test_appservice_endpoints_random_input_never_500(
    client_for: Any, tmp_path: Path, body: bytes, query: dict[str, str], target: str
) -> None:
    cache: dict[str, Any] = getattr(test_appservice_endpoints_random_input_never_500, "_c", {})
    key = str(tmp_path)
    if key not in cache:
        client = await _start(client_for, tmp_path, None, **{"io.element.msc4190": True})
        alice = await new_user(client, "alice")
        cache[key] = (client, await alice.create_room())
        test_appservice_endpoints_random_input_never_500._c = cache  # type: ignore[attr-defined]
    client, room_id = cache[key]
    paths = {
        "ping": ("POST", PING.format("bridge")),
        "directory": ("PUT", f"{V3}/directory/list/appservice/n/{room_id}"),
        "send": ("PUT", f"{V3}/rooms/{room_id}/send/m.room.message/fz"),
        "register": ("POST", REGISTER),
    }
    method, path = paths[target]
    if target == "register":
        body = json.dumps(
            {"type": "m.login.application_service", "username": query.get("user_id")}
        ).encode()
    resp = await client.request(
        method, path, data=body, params=query, headers=auth_header(AS_TOKEN)
    )
    assert resp.status < 500
    if resp.status >= 400:
        data = await resp.json()
        assert isinstance(data["errcode"], str)
        assert isinstance(data["error"], str)
