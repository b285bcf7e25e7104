"""Ephemeral data pushed to appservices: typing, receipts and presence
(``receive_ephemeral``), MSC3202 to-device messages and device lists."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.fake_bridge import AS_TOKEN, FakeBridge, registration, write_registration
from tests.api.helpers import REGISTER, auth_header, login, services_of
from tests.api.rooms_helpers import V3, User, new_user

PUPPET = "@bridge_alice:test.local"


@pytest.fixture
async def bridge() -> AsyncIterator[FakeBridge]:
    fake = FakeBridge()
    await fake.start()
    yield fake
    await fake.close()


async def _start(client_for: Any, tmp_path: Path, url: str, **reg: Any) -> Any:
    path = write_registration(tmp_path, registration(url, **reg))
    client = await client_for(app_service_config_files=[path])
    sender = services_of(client).appservices.sender
    sender.initial_backoff_s = 0.02
    sender.max_backoff_s = 0.1
    return client


async def _room_with_puppet(client: Any) -> tuple[User, str]:
    """Alice's public room, joined by the appservice's ``bridge_alice``."""
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="public_chat")
    body = {"type": "m.login.application_service", "username": "bridge_alice"}
    resp = await client.post(
        REGISTER, json={**body, "inhibit_login": True}, headers=auth_header(AS_TOKEN)
    )
    assert resp.status == 200
    resp = await client.post(
        V3 + f"/join/{room_id}", json={}, params={"user_id": PUPPET}, headers=auth_header(AS_TOKEN)
    )
    assert resp.status == 200
    return alice, room_id


def _ephemeral(bridge: FakeBridge, event_type: str) -> list[dict[str, Any]]:
    return [
        e for _, body in bridge.txns for e in body.get("ephemeral", []) if e["type"] == event_type
    ]


def _field(bridge: FakeBridge, name: str) -> list[Any]:
    return [body[name] for _, body in bridge.txns if name in body]


async def test_typing_reaches_appservice_when_receive_ephemeral(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url, receive_ephemeral=True)
    alice, room_id = await _room_with_puppet(client)
    await alice.ok(
        "PUT", f"/rooms/{room_id}/typing/{alice.user_id}", {"typing": True, "timeout": 30000}
    )
    await bridge.wait_for(
        lambda b: any(alice.user_id in e["content"]["user_ids"] for e in _ephemeral(b, "m.typing"))
    )
    typing = next(e for e in _ephemeral(bridge, "m.typing") if e["content"]["user_ids"])
    assert typing["room_id"] == room_id
    await alice.ok("PUT", f"/rooms/{room_id}/typing/{alice.user_id}", {"typing": False})
    await bridge.wait_for(lambda b: _ephemeral(b, "m.typing")[-1]["content"]["user_ids"] == [])


async def test_receipts_reach_appservice_without_private_ones(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url, receive_ephemeral=True)
    alice, room_id = await _room_with_puppet(client)
    first = await alice.send(room_id, "one")
    second = await alice.send(room_id, "two")
    await alice.ok("POST", f"/rooms/{room_id}/receipt/m.read.private/{first}", {})
    await alice.ok("POST", f"/rooms/{room_id}/receipt/m.read/{second}", {})
    await bridge.wait_for(lambda b: bool(_ephemeral(b, "m.receipt")))
    receipts = _ephemeral(bridge, "m.receipt")
    assert all(r["room_id"] == room_id for r in receipts)
    merged: dict[str, Any] = {}
    for r in receipts:
        merged.update(r["content"])
    assert alice.user_id in merged[second]["m.read"]
    assert first not in merged


async def test_presence_reaches_appservice_for_its_users_only(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url, receive_ephemeral=True)
    alice, _ = await _room_with_puppet(client)
    await alice.ok("PUT", f"/presence/{alice.user_id}/status", {"presence": "online"})
    resp = await client.put(
        V3 + f"/presence/{PUPPET}/status",
        json={"presence": "unavailable", "status_msg": "away"},
        params={"user_id": PUPPET},
        headers=auth_header(AS_TOKEN),
    )
    assert resp.status == 200
    await bridge.wait_for(lambda b: bool(_ephemeral(b, "m.presence")))
    presence = _ephemeral(bridge, "m.presence")
    assert {p["sender"] for p in presence} == {PUPPET}
    assert presence[-1]["content"]["presence"] == "unavailable"
    assert presence[-1]["content"]["status_msg"] == "away"


async def test_no_ephemeral_without_receive_ephemeral(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url)
    alice, room_id = await _room_with_puppet(client)
    await alice.ok("PUT", f"/rooms/{room_id}/typing/{alice.user_id}", {"typing": True})
    event_id = await alice.send(room_id, "marker")
    await alice.ok("POST", f"/rooms/{room_id}/receipt/m.read/{event_id}", {})
    await alice.send(room_id, "last")
    await bridge.wait_for(lambda b: "last" in [e["content"].get("body") for e in b.events()])
    assert all("ephemeral" not in body for _, body in bridge.txns)


async def test_ephemeral_only_for_interesting_rooms(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url, receive_ephemeral=True)
    alice, room_id = await _room_with_puppet(client)
    other = await alice.create_room()
    await alice.ok("PUT", f"/rooms/{other}/typing/{alice.user_id}", {"typing": True})
    await alice.ok("PUT", f"/rooms/{room_id}/typing/{alice.user_id}", {"typing": True})
    await bridge.wait_for(lambda b: any(e["room_id"] == room_id for e in _ephemeral(b, "m.typing")))
    assert all(e["room_id"] != other for e in _ephemeral(bridge, "m.typing"))


async def test_msc3202_to_device_reaches_appservice(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url, **{"org.matrix.msc3202": True})
    alice, _ = await _room_with_puppet(client)
    messages = {PUPPET: {"PUPPETDEV": {"hello": "there"}}, alice.user_id: {"*": {"x": 1}}}
    await alice.ok("PUT", "/sendToDevice/m.test/t1", {"messages": messages})
    await bridge.wait_for(lambda b: bool(_field(b, "de.sorunome.msc2409.to_device")))
    delivered = [m for batch in _field(bridge, "de.sorunome.msc2409.to_device") for m in batch]
    assert delivered == [
        {
            "type": "m.test",
            "sender": alice.user_id,
            "content": {"hello": "there"},
            "to_user_id": PUPPET,
            "to_device_id": "PUPPETDEV",
        }
    ]
    assert all("ephemeral" not in body for _, body in bridge.txns)


async def test_msc3202_device_lists_report_room_mates(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url, **{"org.matrix.msc3202": True})
    alice, _ = await _room_with_puppet(client)
    await new_user(client, "stranger")
    await login(client, "stranger")
    await login(client, "alice")
    await bridge.wait_for(
        lambda b: any(
            alice.user_id in d["changed"] for d in _field(b, "org.matrix.msc3202.device_lists")
        )
    )
    lists = _field(bridge, "org.matrix.msc3202.device_lists")
    assert all("@stranger:test.local" not in d["changed"] for d in lists)
    assert all(d["left"] == [] for d in lists)


async def test_no_msc3202_fields_without_the_flag(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url, receive_ephemeral=True)
    alice, room_id = await _room_with_puppet(client)
    messages = {PUPPET: {"PUPPETDEV": {"hello": "there"}}}
    await alice.ok("PUT", "/sendToDevice/m.test/t1", {"messages": messages})
    await login(client, "alice")
    await alice.send(room_id, "last")
    await bridge.wait_for(lambda b: "last" in [e["content"].get("body") for e in b.events()])
    for _, body in bridge.txns:
        assert "de.sorunome.msc2409.to_device" not in body
        assert "org.matrix.msc3202.device_lists" not in body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@pytest.fixture
async def ephemeral_env(client_for: Any, tmp_path: Path) -> AsyncIterator[tuple[Any, Any, str]]:
    """One homeserver with an ephemeral-receiving appservice, shared by the
    examples of one hypothesis test; the appservice is closed at the end."""
    fake = FakeBridge()
    await fake.start()
    try:
        client = await _start(
            client_for,
            tmp_path,
            fake.url,
            receive_ephemeral=True,
            **{"org.matrix.msc3202": True},
        )
        alice, room_id = await _room_with_puppet(client)
        yield client, alice, room_id
        await asyncio.wait_for(client.close(), 20)
    finally:
        await asyncio.wait_for(fake.close(), 20)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=json_values, target=st.sampled_from(["typing", "receipt", "presence", "todevice"]))
async def test_ephemeral_inputs_random_bodies_never_500(
    ephemeral_env: tuple[Any, Any, str], body: Any, target: str
) -> None:
    client, alice, room_id = ephemeral_env
    event_id = await alice.send(room_id, "x")
    path = {
        "typing": f"/rooms/{room_id}/typing/{alice.user_id}",
        "receipt": f"/rooms/{room_id}/receipt/m.read/{event_id}",
        "presence": f"/presence/{alice.user_id}/status",
        "todevice": f"/sendToDevice/m.test/r{event_id[1:9]}",
    }[target]
    method = "POST" if target == "receipt" else "PUT"
    resp = await client.request(method, V3 + path, json=body, headers=alice.headers)
    assert resp.status < 500
    if resp.status >= 400:
        data = await resp.json()
        assert isinstance(data.get("errcode"), str)
        assert isinstance(data.get("error"), str)


async def test_msc3202_one_time_key_counts_follow_upload_and_claim(
    client_for: Any, tmp_path: Path, bridge: FakeBridge
) -> None:
    client = await _start(client_for, tmp_path, bridge.url, **{"org.matrix.msc3202": True})
    alice = await new_user(client, "alice")
    body = {"type": "m.login.application_service", "username": "bridge_keys"}
    resp = await client.post(REGISTER, json=body, headers=auth_header(AS_TOKEN))
    assert resp.status == 200
    ghost = await resp.json()
    keys = {"curve25519:AAAAAQ": "key-one", "curve25519:AAAAAg": "key-two"}
    resp = await client.post(
        V3 + "/keys/upload",
        json={"one_time_keys": keys},
        headers=auth_header(ghost["access_token"]),
    )
    assert resp.status == 200
    field = "org.matrix.msc3202.device_one_time_keys_count"

    def count(b: FakeBridge) -> int | None:
        seen = [c[ghost["user_id"]][ghost["device_id"]] for c in _field(b, field)]
        return seen[-1].get("curve25519") if seen else None

    await bridge.wait_for(lambda b: count(b) == 2)
    wanted = {ghost["user_id"]: {ghost["device_id"]: "curve25519"}}
    await alice.ok("POST", "/keys/claim", {"one_time_keys": wanted})
    await bridge.wait_for(lambda b: count(b) == 1)
    types = _field(bridge, "org.matrix.msc3202.device_unused_fallback_key_types")
    assert types[-1] == {ghost["user_id"]: {ghost["device_id"]: []}}
