"""GET/PUT /presence/{userId}/status and presence in /sync."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import new_user


async def test_presence_round_trip_and_visible_to_room_peer(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await alice.ok(
        "PUT", f"/presence/{alice.user_id}/status", {"presence": "online", "status_msg": "here"}
    )
    own = await alice.ok("GET", f"/presence/{alice.user_id}/status")
    assert (own["presence"], own["status_msg"]) == ("online", "here")
    seen = await bob.ok("GET", f"/presence/{alice.user_id}/status")
    assert seen["presence"] == "online"
    data = await bob.ok("GET", "/sync")
    events = [e for e in data["presence"]["events"] if e["sender"] == alice.user_id]
    assert events[0]["content"]["status_msg"] == "here"


async def test_presence_hidden_from_strangers(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    await alice.ok("PUT", f"/presence/{alice.user_id}/status", {"presence": "online"})
    status, data = await bob.request("GET", f"/presence/{alice.user_id}/status")
    assert (status, data["errcode"]) == (403, "M_FORBIDDEN")
    synced = await bob.ok("GET", "/sync")
    # Bob's own presence (his /sync marks him online) is his to see; alice's is not.
    assert [e["sender"] for e in synced["presence"]["events"]] == [bob.user_id]


async def test_presence_of_other_user_cannot_be_set(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    status, data = await alice.request(
        "PUT", f"/presence/{bob.user_id}/status", {"presence": "online"}
    )
    assert (status, data["errcode"]) == (403, "M_FORBIDDEN")


async def test_unknown_presence_state_is_rejected(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request(
        "PUT", f"/presence/{alice.user_id}/status", {"presence": "dancing"}
    )
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


async def test_presence_disabled_by_config(client_for: Any) -> None:
    client = await client_for(presence={"enabled": False})
    alice = await new_user(client, "alice")
    await alice.ok("PUT", f"/presence/{alice.user_id}/status", {"presence": "online"})
    status, data = await alice.request("GET", f"/presence/{alice.user_id}/status")
    assert (status, data["errcode"]) == (403, "M_FORBIDDEN")
    synced = await alice.ok("GET", "/sync", params={"set_presence": "online"})
    assert synced["presence"]["events"] == []
