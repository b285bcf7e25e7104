"""POST/GET /user/{userId}/filter."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from homeserver.storage.stores.filters import FilterStore
from tests.api.helpers import services_of
from tests.api.rooms_helpers import new_user


async def test_filter_round_trips(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    definition = {"room": {"timeline": {"limit": 5, "types": ["m.room.*"]}}}
    created = await alice.ok("POST", f"/user/{alice.user_id}/filter", definition)
    assert isinstance(created["filter_id"], str)
    fetched = await alice.ok("GET", f"/user/{alice.user_id}/filter/{created['filter_id']}")
    assert fetched == definition


async def test_filter_ids_differ_per_upload(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    a = await alice.ok("POST", f"/user/{alice.user_id}/filter", {})
    b = await alice.ok("POST", f"/user/{alice.user_id}/filter", {})
    assert a["filter_id"] != b["filter_id"]


async def test_filter_of_other_user_is_forbidden(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    status, data = await alice.request("POST", f"/user/{bob.user_id}/filter", {})
    assert (status, data["errcode"]) == (403, "M_FORBIDDEN")
    created = await bob.ok("POST", f"/user/{bob.user_id}/filter", {})
    status, data = await alice.request("GET", f"/user/{bob.user_id}/filter/{created['filter_id']}")
    assert (status, data["errcode"]) == (403, "M_FORBIDDEN")


async def test_unknown_filter_is_not_found(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request("GET", f"/user/{alice.user_id}/filter/99")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")


async def test_invalid_filter_is_bad_json(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request(
        "POST", f"/user/{alice.user_id}/filter", {"room": {"timeline": {"types": "m.room.message"}}}
    )
    assert (status, data["errcode"]) == (400, "M_BAD_JSON")
    status, data = await alice.request("POST", f"/user/{alice.user_id}/filter", [1, 2])
    assert (status, data["errcode"]) == (400, "M_BAD_JSON")


async def test_filter_room_and_user_ids_must_parse(client: TestClient[Any, Any]) -> None:
    """As Synapse's filter schema (Complement TestFilter): rooms and senders are ids."""
    alice = await new_user(client, "alice")
    path = f"/user/{alice.user_id}/filter"
    bad = [
        {"room": {"rooms": ["not_a_room_id"]}},
        {"room": {"not_rooms": ["#alias:test.local"]}},
        {"room": {"timeline": {"rooms": ["not_a_room_id"]}}},
        {"room": {"timeline": {"senders": ["not_a_sender_id"]}}},
        {"presence": {"not_senders": ["bob"]}},
    ]
    for body in bad:
        status, data = await alice.request("POST", path, body)
        assert (status, data["errcode"]) == (400, "M_BAD_JSON"), body
    v12_room = "!" + "A" * 43
    good = {
        "room": {
            "rooms": ["!abc:test.local", v12_room],
            "timeline": {"senders": [alice.user_id], "not_senders": ["@Old.Style:other.example"]},
        }
    }
    await alice.ok("POST", path, good)


async def test_inline_filter_with_bad_ids_is_a_client_error(client: TestClient[Any, Any]) -> None:
    """An inline ``filter`` query parameter goes through the same parsing:
    /sync refuses bad room and user ids with 400; /messages reads only a
    RoomEventFilter's fields (as Synapse, it does not check ids) and so a
    sender that is no user id matches nothing."""
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    for definition in (
        {"room": {"timeline": {"rooms": ["not_a_room_id"]}}},
        {"room": {"timeline": {"senders": ["not_a_sender_id"]}}},
        {"presence": {"not_senders": ["bob"]}},
    ):
        status, data = await alice.request(
            "GET", "/sync", params={"filter": json.dumps(definition)}
        )
        assert (status, data["errcode"]) == (400, "M_BAD_JSON"), definition
    status, data = await alice.request(
        "GET",
        f"/rooms/{room_id}/messages",
        params={"dir": "b", "filter": json.dumps({"senders": ["not_a_sender_id"]})},
    )
    assert (status, data["chunk"]) == (200, [])


async def test_filter_stored_before_ids_were_checked_still_works(
    client: TestClient[Any, Any],
) -> None:
    """A filter saved when room and user ids were not yet checked keeps
    serving /sync (it is not judged again), while a new one is refused."""
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    event_id = await alice.send(room_id, "hello")
    definition = {"room": {"rooms": [room_id, "not_a_room_id"], "timeline": {"senders": ["x"]}}}
    status, _ = await alice.request("POST", f"/user/{alice.user_id}/filter", definition)
    assert status == 400
    store = FilterStore()
    async with services_of(client).db.write() as txn:
        filter_id = await store.add(txn, alice.user_id, definition)
    data = await alice.ok("GET", "/sync", params={"filter": str(filter_id)})
    assert room_id in data["rooms"]["join"]
    # The sender "x" matches nobody: the timeline is empty, not an error.
    events = data["rooms"]["join"][room_id]["timeline"]["events"]
    assert event_id not in [e["event_id"] for e in events]
