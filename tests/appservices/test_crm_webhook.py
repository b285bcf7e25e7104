"""crm_webhook against our homeserver and a fake CRM."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appservices.crm_webhook import CrmBridgeConfig, create_bridge
from appservices.crm_webhook.config import RoomMapping
from appservices.crm_webhook.signature import sign, verify
from tests.api.fuzz_helpers import json_values
from tests.api.rooms_helpers import User, new_user
from tests.appservices.fake_crm import API_TOKEN, FakeCrm
from tests.appservices.stack import Stack, room_messages, start_stack, wait_for_messages

SECRET = "webhook-secret-0123456789"


@pytest.fixture
async def crm() -> AsyncIterator[FakeCrm]:
    fake = FakeCrm()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def setup(
    client_for: Any, tmp_path: Path, bridge_db_url: str, crm: FakeCrm
) -> AsyncIterator[tuple[Stack, User, str]]:
    """A homeserver, alice's room mapped to CRM account ``acme``, and the bridge."""
    # The room must exist before the config names it: start with an empty mapping,
    # create the room, then start the bridge with the mapping.
    crm_section: dict[str, Any] = {
        "api_url": crm.api_url,
        "api_token": API_TOKEN,
        "webhook_secret": SECRET,
        "rooms": [],
    }
    stack = await start_stack(client_for, tmp_path, CrmBridgeConfig, bridge_db_url, crm=crm_section)
    alice = await new_user(stack.hs, "alice")
    room_id = await alice.create_room(preset="public_chat")
    mapping = {"room_id": room_id, "account": "acme", "events": ["lead.*", "ticket.updated"]}
    crm_config = stack.config.crm.model_copy(
        update={"rooms": [RoomMapping.model_validate(mapping)]}
    )
    stack.config = stack.config.model_copy(update={"crm": crm_config})
    await stack.start_bridge(create_bridge)
    yield stack, alice, room_id
    await stack.stop_bridge()


def _delivery(delivery_id: str = "dlv-1", event_type: str = "lead.created") -> dict[str, Any]:
    return {
        "id": delivery_id,
        "type": event_type,
        "account": "acme",
        "occurred_at": 1_700_000_000_000,
        "actor": {"id": "u42", "name": "Jane Sales"},
        "record": {"type": "lead", "id": "L-7", "title": "Big Co", "status": "new"},
    }


async def _post_webhook(
    stack: Stack, payload: Any, *, secret: str = SECRET, timestamp: int | None = None
) -> tuple[int, Any]:
    assert stack.server is not None
    body = json.dumps(payload).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "X-CRM-Timestamp": ts,
        "X-CRM-Signature": sign(secret, ts, body),
        "Content-Type": "application/json",
    }
    async with stack.hs.session.post(
        str(stack.server.make_url("/crm/webhook")), data=body, headers=headers
    ) as resp:
        return resp.status, await resp.json()


async def test_webhook_posts_in_mapped_room_as_ghost_when_signature_valid(
    setup: tuple[Stack, User, str],
) -> None:
    stack, alice, room_id = setup
    status, body = await _post_webhook(stack, _delivery())
    assert (status, body) == (200, {"rooms": 1})
    messages = await wait_for_messages(alice, room_id, lambda m: len(m) == 1)
    assert messages[0]["sender"] == "@tb_u42:test.local"
    assert messages[0]["content"]["body"] == "New lead: Big Co (L-7), status new"
    assert messages[0]["origin_server_ts"] == 1_700_000_000_000
    profile = await alice.ok("GET", "/profile/@tb_u42:test.local")
    assert profile["displayname"] == "Jane Sales (CRM)"


async def test_webhook_unauthorized_when_signature_bad(setup: tuple[Stack, User, str]) -> None:
    stack, alice, room_id = setup
    status, body = await _post_webhook(stack, _delivery(), secret="another-secret-0123456")
    assert status == 401
    assert body["errcode"] == "M_UNAUTHORIZED"
    old = int(time.time()) - 3600
    assert (await _post_webhook(stack, _delivery(), timestamp=old))[0] == 401
    # Prove the room stays empty: a later valid delivery is the only message.
    assert (await _post_webhook(stack, _delivery("dlv-2")))[0] == 200
    messages = await wait_for_messages(alice, room_id, lambda m: len(m) >= 1)
    assert len(messages) == 1


async def test_webhook_posts_once_when_delivered_twice(setup: tuple[Stack, User, str]) -> None:
    stack, alice, room_id = setup
    assert (await _post_webhook(stack, _delivery()))[0] == 200
    assert await _post_webhook(stack, _delivery()) == (200, {"duplicate": True})
    assert len(await room_messages(alice, room_id)) == 1


async def test_webhook_ignored_when_event_type_not_mapped(setup: tuple[Stack, User, str]) -> None:
    stack, alice, room_id = setup
    assert await _post_webhook(stack, _delivery(event_type="invoice.paid")) == (200, {"rooms": 0})
    assert await room_messages(alice, room_id) == []


async def test_crm_note_calls_api_and_replies_when_room_mapped(
    setup: tuple[Stack, User, str], crm: FakeCrm
) -> None:
    stack, alice, room_id = setup
    await stack.bridge.bot.ensure_joined(room_id)
    await alice.send(room_id, "!crm note L-7 called them, send a quote")
    messages = await wait_for_messages(
        alice, room_id, lambda m: any(e["sender"] == stack.bridge.bot_user_id for e in m)
    )
    assert crm.calls == [
        (
            "POST",
            "/api/records/L-7/notes",
            {"text": "called them, send a quote", "author": alice.user_id},
        )
    ]
    reply = messages[-1]
    assert reply["content"] == {"msgtype": "m.notice", "body": "Note added to L-7 (note n-1)."}


async def test_crm_note_reports_error_when_record_unknown(
    setup: tuple[Stack, User, str], crm: FakeCrm
) -> None:
    stack, alice, room_id = setup
    await stack.bridge.bot.ensure_joined(room_id)
    await alice.send(room_id, "!crm note NOPE hello")
    messages = await wait_for_messages(
        alice, room_id, lambda m: any(e["sender"] == stack.bridge.bot_user_id for e in m)
    )
    assert messages[-1]["content"]["body"] == "Could not add the note to NOPE: no such record."


async def test_crm_show_refused_when_room_not_mapped(
    setup: tuple[Stack, User, str], crm: FakeCrm
) -> None:
    stack, alice, _ = setup
    other = await alice.create_room(preset="public_chat")
    await stack.bridge.bot.ensure_joined(other)
    await alice.send(other, "!crm show L-7")
    messages = await wait_for_messages(
        alice, other, lambda m: any(e["sender"] == stack.bridge.bot_user_id for e in m)
    )
    assert messages[-1]["content"]["body"] == "This room is not linked to a CRM account."
    assert crm.calls == []


def test_verify_rejects_when_body_changed() -> None:
    signature = sign(SECRET, "100", b'{"a":1}')
    assert verify(SECRET, "100", signature, b'{"a":1}', now_s=100, tolerance_s=5)
    assert not verify(SECRET, "100", signature, b'{"a":2}', now_s=100, tolerance_s=5)
    assert not verify(SECRET, "100", signature, b'{"a":1}', now_s=200, tolerance_s=5)
    assert not verify(SECRET, None, signature, b'{"a":1}', now_s=100, tolerance_s=5)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=json_values | st.fixed_dictionaries({"id": json_values, "type": json_values}))
async def test_webhook_random_signed_body_never_500(
    setup: tuple[Stack, User, str], payload: Any
) -> None:
    stack, _, _ = setup
    if isinstance(payload, dict):
        payload = {"account": "acme", **payload}
    status, body = await _post_webhook(stack, payload)
    assert status in (200, 400)
    if status == 400:
        assert body["errcode"] == "M_BAD_JSON"
