"""The shared evaluation for members with the default rules gives exactly
what a full evaluation per member gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeserver.core.events import PDU
from homeserver.core.push.evaluator import (
    PushContext,
    compile_ruleset,
    evaluate,
    flatten_event,
    glob_matches,
)
from homeserver.core.push.ruleset import build_ruleset
from homeserver.core.room_versions import V10
from homeserver.services.push.actions import _named_users, _NameIndex, _RoomFacts, push_event_json
from homeserver.services.push.rules import GENERIC_USER, generic_default_ruleset


def _pdu(
    content: dict[str, Any], event_type: str = "m.room.message", state_key: str | None = None
) -> PDU:
    data: dict[str, Any] = {
        "type": event_type,
        "sender": "@sender:example.org",
        "room_id": "!room:example.org",
        "content": content,
        "origin_server_ts": 1,
        "depth": 5,
        "prev_events": [],
        "auth_events": [],
    }
    if state_key is not None:
        data["state_key"] = state_key
    return PDU("$event", V10, data)


EVENTS = [
    ({"msgtype": "m.text", "body": "hello everyone"}, "m.room.message", None),
    ({"msgtype": "m.text", "body": "hi Alice, see this"}, "m.room.message", None),
    ({"msgtype": "m.text", "body": "ping bob"}, "m.room.message", None),
    ({"msgtype": "m.notice", "body": "a notice"}, "m.room.message", None),
    ({"msgtype": "m.text", "body": "@room wake up"}, "m.room.message", None),
    (
        {"msgtype": "m.text", "body": "no name", "m.mentions": {"user_ids": ["@bob:example.org"]}},
        "m.room.message",
        None,
    ),
    ({"msgtype": "m.text", "body": "alice", "m.mentions": {}}, "m.room.message", None),
    ({"membership": "invite"}, "m.room.member", "@carol:example.org"),
    ({"algorithm": "m.megolm.v1.aes-sha2"}, "m.room.encrypted", None),
]
USERS = [("@alice:example.org", "Alice"), ("@bob:example.org", None), ("@carol:example.org", "Cee")]


@pytest.mark.parametrize(("content", "event_type", "state_key"), EVENTS)
@pytest.mark.parametrize("member_count", [2, 5])
def test_shared_default_result_equals_full_evaluation(
    content: dict[str, Any], event_type: str, state_key: str | None, member_count: int
) -> None:
    pdu = _pdu(content, event_type, state_key)
    flat = flatten_event(push_event_json(pdu))
    levels = {"room": 50}
    generic = evaluate(
        generic_default_ruleset(),
        flat,
        PushContext(GENERIC_USER, member_count, None, 100.0, levels),
    )
    facts = _RoomFacts(
        state={},
        rules_generation=0,
        joined_count=member_count,
        local_joined=frozenset(u for u, _ in USERS),
        own_rules=[],
        names=_NameIndex(
            [(u, u[1:].partition(":")[0]) for u, _ in USERS]
            + [(u, n.lower()) for u, n in USERS if n]
        ),
    )
    named = _named_users(pdu, facts)
    for user_id, display_name in USERS:
        full = evaluate(
            compile_ruleset(build_ruleset(user_id, [], {})),
            flat,
            PushContext(user_id, member_count, display_name, 100.0, levels),
        )
        if user_id not in named:
            assert generic == full, (user_id, content)


_NAME_CHARS = st.sampled_from(list("abcAB_1 .-!é张@"))


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(st.text(_NAME_CHARS, min_size=1, max_size=6), min_size=1, max_size=5),
    text=st.text(_NAME_CHARS, max_size=30),
)
def test_name_index_finds_every_word_bounded_name(names: list[str], text: str) -> None:
    index = _NameIndex([(f"@u{i}:hs", name.lower()) for i, name in enumerate(names)])
    found = index.candidates(text.lower())
    for i, name in enumerate(names):
        if glob_matches(name.replace("*", "").replace("?", ""), text, word_boundary=True):
            assert f"@u{i}:hs" in found, (name, text)
