"""The redaction algorithm of each room version."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeserver.core.redaction import redact
from homeserver.core.room_versions import (
    KNOWN_ROOM_VERSIONS,
    V1,
    V5,
    V6,
    V7,
    V8,
    V9,
    V10,
    V11,
    V12,
    RoomVersion,
)

_ALL = list(KNOWN_ROOM_VERSIONS.values())
_BEFORE_V11 = [rv for rv in _ALL if not rv.updated_redaction_rules]
_FROM_V11 = [rv for rv in _ALL if rv.updated_redaction_rules]


def _event(type_: str, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "event_id": "$e:example.org",
        "type": type_,
        "room_id": "!r:example.org",
        "sender": "@u:example.org",
        "state_key": "",
        "content": content,
        "hashes": {"sha256": "abc"},
        "signatures": {"example.org": {"ed25519:1": "sig"}},
        "depth": 3,
        "prev_events": ["$p"],
        "auth_events": ["$a"],
        "origin_server_ts": 1,
        "origin": "example.org",
        "membership": "join",
        "prev_state": [],
        "unsigned": {"age": 1},
        "extra_top_level": True,
        **extra,
    }


@pytest.mark.parametrize("rv", _BEFORE_V11, ids=lambda rv: rv.identifier)
def test_redact_keeps_legacy_top_level_keys_before_v11(rv: RoomVersion) -> None:
    redacted = redact(_event("m.room.message", {"body": "x"}), rv)
    assert set(redacted) == {
        "event_id",
        "type",
        "room_id",
        "sender",
        "state_key",
        "content",
        "hashes",
        "signatures",
        "depth",
        "prev_events",
        "auth_events",
        "origin_server_ts",
        "origin",
        "membership",
        "prev_state",
    }
    assert redacted["content"] == {}


@pytest.mark.parametrize("rv", _FROM_V11, ids=lambda rv: rv.identifier)
def test_redact_drops_origin_membership_prev_state_from_v11(rv: RoomVersion) -> None:
    redacted = redact(_event("m.room.message", {"body": "x"}), rv)
    assert not {"origin", "membership", "prev_state", "unsigned", "extra_top_level"} & set(redacted)
    assert redacted["depth"] == 3


_MEMBER = {
    "membership": "join",
    "displayname": "U",
    "join_authorised_via_users_server": "@admin:example.org",
    "third_party_invite": {"display_name": "x", "signed": {"mxid": "@u:example.org"}},
}


@pytest.mark.parametrize(
    ("rv", "expected"),
    [
        (V8, {"membership": "join"}),
        (V9, {"membership": "join", "join_authorised_via_users_server": "@admin:example.org"}),
        (V10, {"membership": "join", "join_authorised_via_users_server": "@admin:example.org"}),
        (
            V11,
            {
                "membership": "join",
                "join_authorised_via_users_server": "@admin:example.org",
                "third_party_invite": {"signed": {"mxid": "@u:example.org"}},
            },
        ),
    ],
    ids=lambda x: x.identifier if isinstance(x, RoomVersion) else "",
)
def test_redact_member_content_per_version(rv: RoomVersion, expected: dict[str, Any]) -> None:
    assert redact(_event("m.room.member", _MEMBER), rv)["content"] == expected


def test_redact_member_drops_third_party_invite_without_signed_in_v11() -> None:
    content = {"membership": "invite", "third_party_invite": {"display_name": "x"}}
    assert redact(_event("m.room.member", content), V11)["content"] == {"membership": "invite"}


def test_redact_create_keeps_creator_before_v11_and_everything_after() -> None:
    content = {"creator": "@u:example.org", "room_version": "10", "m.federate": False}
    assert redact(_event("m.room.create", content), V10)["content"] == {"creator": "@u:example.org"}
    assert redact(_event("m.room.create", content), V11)["content"] == content
    assert redact(_event("m.room.create", content), V12)["content"] == content


def test_redact_join_rules_keeps_allow_from_v8() -> None:
    content = {"join_rule": "restricted", "allow": [{"type": "m.room_membership"}], "x": 1}
    assert redact(_event("m.room.join_rules", content), V7)["content"] == {
        "join_rule": "restricted"
    }
    assert redact(_event("m.room.join_rules", content), V8)["content"] == {
        "join_rule": "restricted",
        "allow": [{"type": "m.room_membership"}],
    }


def test_redact_power_levels_keeps_invite_from_v11() -> None:
    content = {
        "ban": 50,
        "events": {"m.room.name": 50},
        "events_default": 0,
        "invite": 0,
        "kick": 50,
        "redact": 50,
        "state_default": 50,
        "users": {"@u:example.org": 100},
        "users_default": 0,
        "notifications": {"room": 50},
    }
    v10 = redact(_event("m.room.power_levels", content), V10)["content"]
    v11 = redact(_event("m.room.power_levels", content), V11)["content"]
    assert "invite" not in v10
    assert "notifications" not in v10
    assert v11 == {k: v for k, v in content.items() if k != "notifications"}


def test_redact_aliases_keeps_aliases_only_until_v5() -> None:
    content = {"aliases": ["#a:example.org"]}
    assert redact(_event("m.room.aliases", content), V1)["content"] == content
    assert redact(_event("m.room.aliases", content), V5)["content"] == content
    assert redact(_event("m.room.aliases", content), V6)["content"] == {}


@pytest.mark.parametrize("rv", _ALL, ids=lambda rv: rv.identifier)
def test_redact_history_visibility_kept_in_every_version(rv: RoomVersion) -> None:
    content = {"history_visibility": "shared", "other": 1}
    assert redact(_event("m.room.history_visibility", content), rv)["content"] == {
        "history_visibility": "shared"
    }


def test_redact_redaction_keeps_redacts_in_content_from_v11() -> None:
    content = {"redacts": "$x", "reason": "spam"}
    event = _event("m.room.redaction", content, redacts="$x")
    assert redact(event, V10)["content"] == {}
    assert "redacts" not in redact(event, V10)
    assert redact(event, V11)["content"] == {"redacts": "$x"}


def test_redact_does_not_change_input() -> None:
    event = _event("m.room.member", dict(_MEMBER))
    redact(event, V11)
    assert event["content"] == _MEMBER
    assert "unsigned" in event


def test_redact_tolerates_non_object_content() -> None:
    assert redact(_event("m.room.member", "oops"), V10)["content"] == {}  # type: ignore[arg-type]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=10,
)
_content_keys = st.sampled_from(
    [
        "membership",
        "join_authorised_via_users_server",
        "third_party_invite",
        "creator",
        "join_rule",
        "allow",
        "ban",
        "invite",
        "users",
        "history_visibility",
        "aliases",
        "redacts",
        "body",
    ]
)
_top_keys = st.sampled_from(
    ["event_id", "type", "room_id", "origin", "membership", "prev_state", "unsigned", "junk"]
)
_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "m.room.member",
                "m.room.create",
                "m.room.join_rules",
                "m.room.power_levels",
                "m.room.history_visibility",
                "m.room.aliases",
                "m.room.redaction",
                "m.room.message",
            ]
        ),
        "content": st.dictionaries(
            _content_keys, _json | st.fixed_dictionaries({"signed": _json}), max_size=5
        ),
    }
).flatmap(lambda base: st.dictionaries(_top_keys, _json, max_size=4).map(lambda e: e | base))


@given(_events, st.sampled_from(_ALL))
def test_redact_is_idempotent(event: dict[str, Any], rv: RoomVersion) -> None:
    once = redact(event, rv)
    assert redact(once, rv) == once
