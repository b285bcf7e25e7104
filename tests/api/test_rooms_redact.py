"""PUT /rooms/{roomId}/redact/{eventId}/{txnId}."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import new_user


async def test_redact_own_event_serves_it_redacted(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    event_id = await alice.send(room_id, "oops")
    path = f"/rooms/{room_id}/redact/{event_id}/r1"
    redaction = await alice.ok("PUT", path, {"reason": "typo"})
    retry = await alice.ok("PUT", path, {"reason": "typo"})
    assert retry == redaction
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{event_id}")
    assert event["content"] == {}
    because = event["unsigned"]["redacted_because"]
    assert because["event_id"] == redaction["event_id"]
    assert because["content"]["reason"] == "typo"
    assert because["redacts"] == event_id


async def test_redact_others_event_needs_redact_power(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    alices = await alice.send(room_id, "mine")
    bobs = await bob.send(room_id, "bob's")
    status, body = await bob.request("PUT", f"/rooms/{room_id}/redact/{alices}/x", {})
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"
    event = await bob.ok("GET", f"/rooms/{room_id}/event/{alices}")
    assert event["content"]["body"] == "mine"
    await alice.ok("PUT", f"/rooms/{room_id}/redact/{bobs}/y", {})
    event = await bob.ok("GET", f"/rooms/{room_id}/event/{bobs}")
    assert event["content"] == {}


async def test_redact_in_v11_keeps_redacts_in_content(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(room_version="11")
    event_id = await alice.send(room_id, "x")
    sent = await alice.ok("PUT", f"/rooms/{room_id}/redact/{event_id}/z", {})
    redaction = await alice.ok("GET", f"/rooms/{room_id}/event/{sent['event_id']}")
    assert redaction["content"]["redacts"] == event_id
    assert redaction["redacts"] == event_id


async def test_redact_bad_reason_is_bad_json(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    event_id = await alice.send(room_id, "x")
    status, body = await alice.request(
        "PUT", f"/rooms/{room_id}/redact/{event_id}/b", {"reason": 5}
    )
    assert status == 400
    assert body["errcode"] == "M_BAD_JSON"


async def test_redaction_through_send_endpoint(client: TestClient[Any, Any]) -> None:
    """Spec v1.18 (MSC4169): PUT /send/m.room.redaction with ``content.redacts``."""
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    for version in ("10", "11"):
        room_id = await alice.create_room(room_version=version, preset="public_chat")
        await bob.join(room_id)
        event_id = await alice.send(room_id, "oops")
        path = f"/rooms/{room_id}/send/m.room.redaction/s{version}"
        body = {"redacts": event_id, "reason": "typo"}
        sent = await alice.ok("PUT", path, body)
        assert await alice.ok("PUT", path, body) == sent
        event = await alice.ok("GET", f"/rooms/{room_id}/event/{event_id}")
        assert event["content"] == {}
        assert event["unsigned"]["redacted_because"]["event_id"] == sent["event_id"]
        redaction = await alice.ok("GET", f"/rooms/{room_id}/event/{sent['event_id']}")
        assert redaction["redacts"] == event_id
        assert redaction["content"]["reason"] == "typo"
        # The same power rules as PUT /redact: bob may not redact alice's event.
        other = await alice.send(room_id, "mine")
        status, data = await bob.request(
            "PUT", f"/rooms/{room_id}/send/m.room.redaction/b{version}", {"redacts": other}
        )
        assert (status, data["errcode"]) == (403, "M_FORBIDDEN")
    status, data = await alice.request("PUT", f"/rooms/{room_id}/send/m.room.redaction/m", {})
    assert (status, data["errcode"]) == (400, "M_MISSING_PARAM")
    status, data = await alice.request(
        "PUT", f"/rooms/{room_id}/send/m.room.redaction/i", {"redacts": "nope"}
    )
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")
