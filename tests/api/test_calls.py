"""1:1 calls between two users in a DM, and group call membership state."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]

CALL_FLOW = [
    ("alice", "m.call.invite", {"offer": {"type": "offer", "sdp": "v=0"}, "lifetime": 60000}),
    ("alice", "m.call.candidates", {"candidates": [{"candidate": "c1", "sdpMLineIndex": 0}]}),
    ("bob", "m.call.answer", {"answer": {"type": "answer", "sdp": "v=0"}}),
    ("alice", "m.call.select_answer", {"selected_party_id": "bobparty"}),
    ("bob", "m.call.negotiate", {"description": {"type": "offer", "sdp": "v=0"}, "lifetime": 1}),
    ("alice", "m.call.hangup", {"reason": "user_hangup"}),
    ("bob", "m.call.reject", {}),
]


async def _dm(alice: User, bob: User) -> str:
    room_id = await alice.create_room(
        is_direct=True, preset="trusted_private_chat", invite=[bob.user_id]
    )
    await bob.join(room_id)
    return room_id


async def _timeline_types(user: User, room_id: str) -> list[tuple[str, str]]:
    sync = await user.ok("GET", "/sync")
    events = sync["rooms"]["join"][room_id]["timeline"]["events"]
    return [(e["sender"], e["type"]) for e in events if e["type"].startswith("m.call.")]


async def test_call_events_relayed_in_order_between_two_clients(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await _dm(alice, bob)
    users = {"alice": alice, "bob": bob}
    for n, (who, event_type, extra) in enumerate(CALL_FLOW):
        content = {"call_id": "call1", "party_id": f"{who}party", "version": "1", **extra}
        await users[who].ok("PUT", f"/rooms/{room_id}/send/{event_type}/c{n}", content)
    expected = [(users[who].user_id, event_type) for who, event_type, _ in CALL_FLOW]
    assert await _timeline_types(alice, room_id) == expected
    assert await _timeline_types(bob, room_id) == expected


async def test_call_invite_rings_the_callee(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await _dm(alice, bob)
    content = {
        "call_id": "c",
        "party_id": "p",
        "version": "1",
        "lifetime": 60000,
        "offer": {"type": "offer", "sdp": "v=0"},
    }
    event_id = (await alice.ok("PUT", f"/rooms/{room_id}/send/m.call.invite/i1", content))[
        "event_id"
    ]
    notifications = (await bob.ok("GET", "/notifications"))["notifications"]
    [invite] = [n for n in notifications if n["event"]["event_id"] == event_id]
    assert "notify" in invite["actions"]
    assert {"set_tweak": "sound", "value": "ring"} in invite["actions"]


async def test_call_member_state_with_underscore_owned_key(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat", invite=[bob.user_id])
    await bob.join(room_id)
    # Bob has power 0: the default power levels let members join calls.
    key = f"_{bob.user_id}_BOBDEVICE"
    status, _ = await bob.put_state(room_id, "m.call.member", {"application": "m.call"}, quote(key))
    assert status == 200
    # A key naming another user directly stays refused (the room's auth rules).
    status, body = await bob.put_state(room_id, "m.call.member", {}, quote(f"{alice.user_id}_X"))
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


async def test_rtc_transports_and_well_known(client_for: Any) -> None:
    url = "https://livekit-jwt.test.local"
    client = await client_for(rtc={"livekit_service_url": url}, public_baseurl="https://hs.test/")
    alice = await new_user(client, "alice")
    resp = await client.get(
        "/_matrix/client/unstable/org.matrix.msc4143/rtc/transports", headers=alice.headers
    )
    transports = [{"type": "livekit", "livekit_service_url": url}]
    assert await resp.json() == {"rtc_transports": transports}
    resp = await client.get("/.well-known/matrix/client")
    assert (await resp.json())["org.matrix.msc4143.rtc_foci"] == transports


async def test_rtc_transports_empty_when_unconfigured(client: Client) -> None:
    alice = await new_user(client, "alice")
    resp = await client.get(
        "/_matrix/client/unstable/org.matrix.msc4143/rtc/transports", headers=alice.headers
    )
    assert await resp.json() == {"rtc_transports": []}
