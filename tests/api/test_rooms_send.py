"""PUT /rooms/{roomId}/send/… and PUT /rooms/{roomId}/state/…"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import login
from tests.api.rooms_helpers import V3, User, new_user

MSG = {"msgtype": "m.text", "body": "hello"}
_fuzz_users = itertools.count()


async def test_send_retry_with_same_txn_returns_same_event(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    path = f"/rooms/{room_id}/send/m.room.message/txn1"
    first = await alice.ok("PUT", path, MSG)
    second = await alice.ok("PUT", path, {"msgtype": "m.text", "body": "different"})
    assert first["event_id"] == second["event_id"]
    messages = await alice.ok("GET", f"/rooms/{room_id}/messages?limit=50")
    bodies = [e["content"].get("body") for e in messages["chunk"] if e["type"] == "m.room.message"]
    assert bodies == ["hello"]


async def test_send_concurrent_retries_create_one_event(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    path = f"/rooms/{room_id}/send/m.room.message/race"
    results = await asyncio.gather(*(alice.ok("PUT", path, MSG) for _ in range(5)))
    assert len({r["event_id"] for r in results}) == 1


async def test_send_same_txn_other_device_or_path_is_new_event(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    other_device = User(client, await login(client, "alice"))
    a = await alice.ok("PUT", f"/rooms/{room_id}/send/m.room.message/t", MSG)
    b = await other_device.ok("PUT", f"/rooms/{room_id}/send/m.room.message/t", MSG)
    c = await alice.ok("PUT", f"/rooms/{room_id}/send/m.custom/t", MSG)
    assert len({a["event_id"], b["event_id"], c["event_id"]}) == 3


async def test_send_transaction_id_echoed_only_to_sending_device(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    other_device = User(client, await login(client, "alice"))
    room_id = await alice.create_room()
    sent = await alice.ok("PUT", f"/rooms/{room_id}/send/m.room.message/echo", MSG)
    mine = await alice.ok("GET", f"/rooms/{room_id}/event/{sent['event_id']}")
    theirs = await other_device.ok("GET", f"/rooms/{room_id}/event/{sent['event_id']}")
    assert mine["unsigned"]["transaction_id"] == "echo"
    assert "transaction_id" not in theirs["unsigned"]


async def test_send_over_64kib_is_too_large(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await alice.request(
        "PUT", f"/rooms/{room_id}/send/m.room.message/big", {"body": "x" * 70_000}
    )
    assert status == 413
    assert body["errcode"] == "M_TOO_LARGE"
    fits = await alice.ok("PUT", f"/rooms/{room_id}/send/m.room.message/ok", {"body": "x" * 60_000})
    assert fits["event_id"].startswith("$")


async def test_send_not_in_room_is_forbidden(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    status, body = await bob.request("PUT", f"/rooms/{room_id}/send/m.room.message/1", MSG)
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"
    status, body = await bob.request("PUT", "/rooms/!nope:test.local/send/m.room.message/1", MSG)
    assert status == 403
    status, body = await bob.request("PUT", "/rooms/not-a-room/send/m.room.message/1", MSG)
    assert status == 400
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_state_event_with_and_without_state_key(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, _ = await alice.request("PUT", f"/rooms/{room_id}/state/m.room.topic", {"topic": "a"})
    assert status == 200
    status, _ = await alice.put_state(room_id, "org.example.thing", {"v": 1}, state_key="k/1")
    assert status == 200
    topic = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.topic/")
    thing = await alice.ok("GET", f"/rooms/{room_id}/state/org.example.thing/k%2F1")
    assert topic == {"topic": "a"}
    assert thing == {"v": 1}


async def test_state_event_prev_content_in_unsigned(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="one")
    _, sent = await alice.put_state(room_id, "m.room.name", {"name": "two"})
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{sent['event_id']}")
    assert event["unsigned"]["prev_content"] == {"name": "one"}


async def test_state_event_same_content_returns_current_event(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    _, first = await alice.put_state(room_id, "m.room.topic", {"topic": "same"})
    _, second = await alice.put_state(room_id, "m.room.topic", {"topic": "same"})
    assert first["event_id"] == second["event_id"]


async def test_state_key_of_other_user_is_forbidden(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await alice.put_state(room_id, "org.example", {}, state_key="@bob:test.local")
    assert status == 403
    assert "user_state_key" in body["error"]
    status, _ = await alice.put_state(room_id, "org.example", {}, state_key=alice.user_id)
    assert status == 200


async def test_state_without_power_is_forbidden_naming_rule(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    status, body = await bob.put_state(room_id, "m.room.name", {"name": "mine"})
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"
    assert "event_level" in body["error"]


async def test_malformed_power_levels_is_bad_json(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    bad: list[dict[str, Any]] = [{"ban": "fifty"}, {"users": {"not-a-user": 5}}, {"events": []}]
    for content in bad:
        status, body = await alice.put_state(room_id, "m.room.power_levels", content)
        assert status == 400, content
        assert body["errcode"] == "M_BAD_JSON", content


async def test_canonical_alias_not_pointing_to_room_is_bad_alias(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await alice.put_state(
        room_id, "m.room.canonical_alias", {"alias": "#missing:test.local"}
    )
    assert status == 400
    assert body["errcode"] == "M_BAD_ALIAS"


async def test_float_content_is_bad_json(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await alice.request(
        "PUT", f"/rooms/{room_id}/send/m.room.message/f", {"body": "x", "n": 1.5}
    )
    assert status == 400
    assert body["errcode"] == "M_BAD_JSON"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
_create_keys = st.sampled_from(
    [
        "visibility",
        "room_alias_name",
        "name",
        "topic",
        "invite",
        "room_version",
        "creation_content",
        "initial_state",
        "preset",
        "is_direct",
        "power_level_content_override",
    ]
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    create_body=st.dictionaries(_create_keys, _json, max_size=5),
    send_body=_json,
)
async def test_random_bodies_never_cause_server_error(
    client: TestClient[Any, Any], create_body: dict[str, Any], send_body: Any
) -> None:
    user = await new_user(client, f"fuzz{next(_fuzz_users)}")
    headers = user.headers
    resp = await client.post(V3 + "/createRoom", json=create_body, headers=headers)
    assert resp.status < 500, await resp.text()
    room = await client.post(V3 + "/createRoom", json={}, headers=headers)
    room_id = (await room.json())["room_id"]
    resp = await client.put(
        V3 + f"/rooms/{room_id}/send/m.room.message/x", json=send_body, headers=headers
    )
    assert resp.status < 500, await resp.text()
    resp = await client.put(
        V3 + f"/rooms/{room_id}/state/m.room.power_levels", json=send_body, headers=headers
    )
    assert resp.status < 500, await resp.text()
