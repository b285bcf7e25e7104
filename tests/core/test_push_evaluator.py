"""Push rule evaluation: every condition kind, the default rules, robustness."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from homeserver.core.push.default_rules import default_rules
from homeserver.core.push.evaluator import (
    PushContext,
    compile_ruleset,
    evaluate,
    flatten_event,
    glob_matches,
    match_rule,
    split_path,
)
from homeserver.core.push.rules import OVERRIDE, PushRule, notify_and_highlight
from homeserver.core.push.ruleset import DefaultRuleChange, build_ruleset

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
ROOM = "!room:example.org"

SOUND_DEFAULT = {"set_tweak": "sound", "value": "default"}
HIGHLIGHT = {"set_tweak": "highlight"}


def message(body: str = "hello", **content: Any) -> dict[str, Any]:
    return {
        "event_id": "$e",
        "type": "m.room.message",
        "sender": BOB,
        "room_id": ROOM,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def ctx(**overrides: Any) -> PushContext:
    values: dict[str, Any] = {
        "user_id": ALICE,
        "room_member_count": 5,
        "user_display_name": "Alice Liddell",
        "sender_power_level": 0,
        "notification_levels": {"room": 50},
    }
    values.update(overrides)
    return PushContext(**values)


def rule(*conditions: dict[str, Any]) -> list[PushRule]:
    return [PushRule(OVERRIDE, "r", ("notify",), conditions=tuple(conditions))]


def matches(conditions: list[dict[str, Any]], event: dict[str, Any], **context: Any) -> bool:
    return evaluate(rule(*conditions), event, ctx(**context)) == ("notify",)


DEFAULTS = compile_ruleset(build_ruleset(ALICE, []))


def default_actions(event: dict[str, Any], **context: Any) -> tuple[Any, ...]:
    return evaluate(DEFAULTS, event, ctx(**context))


# --- event_match ------------------------------------------------------------


def test_event_match_glob_matches_whole_value_case_insensitively() -> None:
    event = {**message(), "type": "m.room.topic", "content": {"topic": "Lunch plans"}}
    assert matches([{"kind": "event_match", "key": "content.topic", "pattern": "lunc?*"}], event)
    event["content"]["topic"] = "LUNCH"
    assert matches([{"kind": "event_match", "key": "content.topic", "pattern": "lunc?*"}], event)


def test_event_match_rejects_partial_and_non_string_values() -> None:
    cond = [{"kind": "event_match", "key": "content.topic", "pattern": "lunc?*"}]
    for value in [" lunch", "lunc", None, 5]:
        event = {**message(), "content": {"topic": value}}
        assert not matches(cond, event)
    assert not matches([{"kind": "event_match", "key": "content.nope", "pattern": "*"}], message())


def test_event_match_body_matches_word_bounded_substrings() -> None:
    cond = [{"kind": "event_match", "key": "content.body", "pattern": "ex*ple"}]
    assert matches(cond, message("An example event."))
    assert matches(cond, message("exple"))
    assert matches(cond, message("An exciting triple-whammy"))
    assert not matches(cond, message("An examples event"))
    assert not matches(cond, message("textexample"))


def test_event_match_question_mark_needs_one_character() -> None:
    assert glob_matches("a?c", "abc")
    assert not glob_matches("a?c", "ac")
    assert glob_matches("a*c", "ac")
    assert not glob_matches("a.c", "abc")


def test_event_match_body_treats_regex_characters_literally() -> None:
    cond = [{"kind": "event_match", "key": "content.body", "pattern": "c++"}]
    assert matches(cond, message("I like c++ a lot"))
    assert not matches(cond, message("I like c a lot"))


# --- dotted paths -------------------------------------------------------------


def test_split_path_unescapes_dots_and_backslashes() -> None:
    assert split_path("content.m\\.mentions.user_ids") == ("content", "m.mentions", "user_ids")
    assert split_path("a\\\\b.c") == ("a\\b", "c")
    assert split_path("a\\xb") == ("a\\xb",)


def test_flatten_event_escapes_dots_and_backslashes_in_keys() -> None:
    flat = flatten_event({"content": {"m.a": {"b\\c": 1}, "list": [1, 2]}})
    assert flat.values == {"content.m\\.a.b\\\\c": 1, "content.list": (1, 2)}


def test_event_property_is_reaches_keys_with_dots() -> None:
    event = {**message(), "content": {"m.federate": True, "a\\b": "x"}}
    assert matches(
        [{"kind": "event_property_is", "key": "content.m\\.federate", "value": True}], event
    )
    assert matches([{"kind": "event_property_is", "key": "content.a\\\\b", "value": "x"}], event)
    assert not matches(
        [{"kind": "event_property_is", "key": "content.m.federate", "value": True}], event
    )


# --- event_property_is / contains ---------------------------------------------


def test_event_property_is_compares_type_exactly() -> None:
    cond = [{"kind": "event_property_is", "key": "content.m\\.federate", "value": True}]
    assert not matches(cond, {**message(), "content": {"m.federate": "true"}})
    assert not matches(cond, {**message(), "content": {"m.federate": 1}})
    one = [{"kind": "event_property_is", "key": "content.n", "value": 1}]
    assert matches(one, {**message(), "content": {"n": 1}})
    assert not matches(one, {**message(), "content": {"n": True}})


def test_event_property_is_matches_null_but_not_absent() -> None:
    cond = [{"kind": "event_property_is", "key": "content.x", "value": None}]
    assert matches(cond, {**message(), "content": {"x": None}})
    assert not matches(cond, {**message(), "content": {}})


def test_event_property_is_ignores_compound_and_float_values() -> None:
    assert not matches(
        [{"kind": "event_property_is", "key": "content.x", "value": [1]}],
        {**message(), "content": {"x": [1]}},
    )
    assert not matches(
        [{"kind": "event_property_is", "key": "content.x", "value": 1.5}],
        {**message(), "content": {"x": 1.5}},
    )


def test_event_property_contains_matches_exact_array_element() -> None:
    cond = [{"kind": "event_property_contains", "key": "content.alt_aliases", "value": "#r:ex.com"}]
    event = {**message(), "content": {"alt_aliases": ["#s:ex.org", "#r:ex.com"]}}
    assert matches(cond, event)
    assert not matches(cond, {**message(), "content": {"alt_aliases": [":ex.com"]}})
    assert not matches(cond, {**message(), "content": {"alt_aliases": "#r:ex.com"}})


# --- contains_display_name ----------------------------------------------------


def test_contains_display_name_matches_word_bounded_name() -> None:
    cond = [{"kind": "contains_display_name"}]
    assert matches(cond, message("hey alice liddell, lunch?"))
    assert not matches(cond, message("hey alice liddellx"))
    assert not matches(cond, message("hey alice liddell"), user_display_name=None)
    assert not matches(cond, message("anything"), user_display_name="")


# --- room_member_count ----------------------------------------------------------


def test_room_member_count_supports_every_operator() -> None:
    cases = {
        "2": (2, 3),
        "==2": (2, 3),
        "<3": (2, 3),
        ">2": (3, 2),
        "<=2": (2, 3),
        ">=3": (3, 2),
    }
    for spec, (yes, no) in cases.items():
        cond = [{"kind": "room_member_count", "is": spec}]
        assert matches(cond, message(), room_member_count=yes), spec
        assert not matches(cond, message(), room_member_count=no), spec


def test_room_member_count_never_matches_when_malformed() -> None:
    for spec in ["", "=2", "two", "2.0", "!2"]:
        assert not matches(
            [{"kind": "room_member_count", "is": spec}], message(), room_member_count=2
        )
    assert not matches([{"kind": "room_member_count", "is": 2}], message(), room_member_count=2)


# --- sender_notification_permission --------------------------------------------


def test_sender_notification_permission_compares_with_room_level() -> None:
    cond = [{"kind": "sender_notification_permission", "key": "room"}]
    assert matches(cond, message(), sender_power_level=50)
    assert not matches(cond, message(), sender_power_level=49)
    assert matches(cond, message(), sender_power_level=10, notification_levels={"room": 10})
    assert matches(cond, message(), sender_power_level=50, notification_levels={})


# --- unknown conditions ------------------------------------------------------------


def test_unknown_condition_kind_makes_rule_never_match() -> None:
    assert not matches([{"kind": "org.example.magic"}], message())
    assert not matches([{"kind": "event_match", "key": "type"}], message())
    assert matches([], message())


def test_historical_actions_are_ignored() -> None:
    rules = [PushRule(OVERRIDE, "r", ("dont_notify", "coalesce"), conditions=())]
    assert evaluate(rules, message(), ctx()) == ()


# --- the default rules ---------------------------------------------------------------


def test_default_rules_are_in_spec_order() -> None:
    ids = [r.rule_id for r in default_rules(ALICE)]
    assert ids == [
        ".m.rule.master",
        ".m.rule.suppress_notices",
        ".m.rule.invite_for_me",
        ".m.rule.member_event",
        ".m.rule.is_user_mention",
        ".m.rule.contains_display_name",
        ".m.rule.is_room_mention",
        ".m.rule.roomnotif",
        ".m.rule.tombstone",
        ".m.rule.reaction",
        ".m.rule.room.server_acl",
        ".m.rule.suppress_edits",
        ".m.rule.contains_user_name",
        ".m.rule.call",
        ".m.rule.encrypted_room_one_to_one",
        ".m.rule.room_one_to_one",
        ".m.rule.message",
        ".m.rule.encrypted",
    ]


def test_default_rules_notify_with_sound_for_dm_message() -> None:
    actions = default_actions(message(), room_member_count=2)
    assert actions == ("notify", SOUND_DEFAULT)
    assert notify_and_highlight(actions) == (True, False)


def test_default_rules_notify_silently_for_group_message() -> None:
    assert default_actions(message(), room_member_count=5) == ("notify",)


def test_default_rules_highlight_user_mention() -> None:
    event = message("hi", **{"m.mentions": {"user_ids": [ALICE]}})
    actions = default_actions(event)
    assert actions == ("notify", SOUND_DEFAULT, HIGHLIGHT)
    assert notify_and_highlight(actions) == (True, True)


def test_default_rules_highlight_room_mention_when_sender_may() -> None:
    event = message("everyone!", **{"m.mentions": {"room": True}})
    found = match_rule(DEFAULTS, event, ctx(sender_power_level=50))
    assert found is not None
    assert found.rule_id == ".m.rule.is_room_mention"
    assert notify_and_highlight(found.actions) == (True, True)


def test_default_rules_dont_highlight_room_mention_without_permission() -> None:
    event = message("everyone!", **{"m.mentions": {"room": True}})
    found = match_rule(DEFAULTS, event, ctx(sender_power_level=0))
    assert found is not None
    assert found.rule_id == ".m.rule.message"
    assert notify_and_highlight(found.actions) == (True, False)


def test_default_rules_legacy_at_room_needs_permission() -> None:
    assert notify_and_highlight(default_actions(message("@room lunch"), sender_power_level=50)) == (
        True,
        True,
    )
    assert notify_and_highlight(default_actions(message("@room lunch"), sender_power_level=0)) == (
        True,
        False,
    )


def test_default_rules_skip_legacy_mentions_when_event_has_mentions() -> None:
    event = message("alice liddell, alice: @room", **{"m.mentions": {}})
    found = match_rule(DEFAULTS, event, ctx(sender_power_level=100))
    assert found is not None
    assert found.rule_id == ".m.rule.message"


def test_default_rules_highlight_display_name_and_user_name_without_mentions() -> None:
    found = match_rule(DEFAULTS, message("Alice Liddell: lunch?"), ctx())
    assert found is not None
    assert found.rule_id == ".m.rule.contains_display_name"
    found = match_rule(DEFAULTS, message("ALICE: lunch?"), ctx(user_display_name=None))
    assert found is not None
    assert found.rule_id == ".m.rule.contains_user_name"


def test_default_rules_suppress_notices() -> None:
    event = message("bot says hi", msgtype="m.notice")
    assert default_actions(event, room_member_count=2) == ()


def test_default_rules_suppress_edits() -> None:
    event = message(
        "* fixed",
        **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}},
    )
    assert default_actions(event, room_member_count=2) == ()


def test_default_rules_suppress_reactions() -> None:
    event = {
        "type": "m.reaction",
        "sender": BOB,
        "room_id": ROOM,
        "content": {"m.relates_to": {"rel_type": "m.annotation", "key": "👍", "event_id": "$x"}},
    }
    assert default_actions(event, room_member_count=2) == ()


def test_default_rules_notify_invite_for_me_only() -> None:
    invite = {
        "type": "m.room.member",
        "sender": BOB,
        "room_id": ROOM,
        "state_key": ALICE,
        "content": {"membership": "invite"},
    }
    assert default_actions(invite) == ("notify", SOUND_DEFAULT)
    assert default_actions({**invite, "state_key": "@carol:example.org"}) == ()


def test_default_rules_highlight_tombstone_state_only() -> None:
    tombstone = {
        "type": "m.room.tombstone",
        "sender": BOB,
        "room_id": ROOM,
        "state_key": "",
        "content": {"body": "moved", "replacement_room": "!new:example.org"},
    }
    assert notify_and_highlight(default_actions(tombstone)) == (True, True)
    del tombstone["state_key"]
    assert default_actions(tombstone) == ()


def test_default_rules_ring_for_calls_and_notify_encrypted() -> None:
    call = {"type": "m.call.invite", "sender": BOB, "room_id": ROOM, "content": {}}
    assert default_actions(call) == ("notify", {"set_tweak": "sound", "value": "ring"})
    encrypted = {"type": "m.room.encrypted", "sender": BOB, "room_id": ROOM, "content": {}}
    assert default_actions(encrypted, room_member_count=2) == ("notify", SOUND_DEFAULT)
    assert default_actions(encrypted, room_member_count=3) == ("notify",)


def test_master_rule_when_enabled_silences_everything() -> None:
    ruleset = build_ruleset(ALICE, [], {".m.rule.master": DefaultRuleChange(enabled=True)})
    event = message("hi", **{"m.mentions": {"user_ids": [ALICE]}})
    assert evaluate(ruleset, event, ctx()) == ()


def test_user_rules_precede_defaults_but_follow_master() -> None:
    own = [PushRule(OVERRIDE, "mine", ("notify", "x"), conditions=())]
    ruleset = build_ruleset(ALICE, own)
    overrides = [r.rule_id for r in ruleset.rules(OVERRIDE)]
    assert overrides[:3] == [".m.rule.master", "mine", ".m.rule.suppress_notices"]
    assert evaluate(ruleset, message(msgtype="m.notice"), ctx()) == ("notify", "x")


def test_room_and_sender_rules_match_by_rule_id() -> None:
    room_rule = PushRule("room", ROOM, ())
    sender_rule = PushRule("sender", BOB, ("notify", "s"))
    ruleset = build_ruleset(ALICE, [room_rule, sender_rule])
    assert evaluate(ruleset, message(), ctx()) == ()
    other_room = {**message(), "room_id": "!other:example.org"}
    assert evaluate(ruleset, other_room, ctx()) == ("notify", "s")


def test_content_rule_pattern_matches_body_words() -> None:
    cake = PushRule("content", "cake", ("notify", "cake"), pattern="cake*lie")
    ruleset = build_ruleset(ALICE, [cake])
    assert evaluate(ruleset, message("the cake is a lie"), ctx()) == ("notify", "cake")
    assert evaluate(ruleset, message("cakes"), ctx()) == ("notify",)


# --- robustness ----------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
condition_kinds = st.sampled_from(
    [
        "event_match",
        "event_property_is",
        "event_property_contains",
        "contains_display_name",
        "room_member_count",
        "sender_notification_permission",
        "unknown",
    ]
)
conditions = (
    st.fixed_dictionaries(
        {"kind": condition_kinds},
        optional={
            "key": st.sampled_from(["content.body", "type", "content.m\\.x", "a.b\\"])
            | json_values,
            "pattern": st.text(alphabet="ab*?.\\[]", max_size=6) | json_values,
            "value": json_values,
            "is": st.text(alphabet="<>=0123", max_size=4) | json_values,
        },
    )
    | json_values
)
rules_strategy = st.lists(
    st.builds(
        PushRule,
        kind=st.sampled_from(["override", "content", "room", "sender", "underride", "bogus"]),
        rule_id=st.text(max_size=6),
        actions=st.lists(json_values, max_size=3).map(tuple),
        enabled=st.booleans(),
        default=st.booleans(),
        conditions=st.none() | st.lists(conditions, max_size=3).map(tuple),
        pattern=st.none() | st.text(alphabet="ab*? ", max_size=5),
    ),
    max_size=5,
)
events = st.dictionaries(
    st.sampled_from(["type", "sender", "room_id", "state_key", "content"]) | st.text(max_size=4),
    json_values,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(rules=rules_strategy, event=events, display_name=st.none() | st.text(max_size=5))
@example(
    rules=[
        PushRule(
            "override", "r", ("notify",), conditions=({"kind": "room_member_count", "is": "<"},)
        )
    ],
    event={},
    display_name=None,
)
def test_evaluator_never_raises_on_random_rules_and_events(
    rules: list[PushRule], event: dict[str, Any], display_name: str | None
) -> None:
    actions = evaluate(rules, event, ctx(user_display_name=display_name))
    assert isinstance(actions, tuple)
    notify, highlight = notify_and_highlight(actions)
    assert notify or not highlight


def test_msc4306_thread_subscription_condition_never_matches() -> None:
    # Thread subscriptions are not implemented: neither form of the condition
    # may silence a thread reply or notify for it.
    thread_reply = message()
    thread_reply["content"]["m.relates_to"] = {"rel_type": "m.thread", "event_id": "$root"}
    kind = "io.element.msc4306.thread_subscription"
    for subscribed in (True, False):
        assert not matches([{"kind": kind, "subscribed": subscribed}], thread_reply)
    rules = build_ruleset(ALICE, [])
    assert rules.rules("postcontent") == ()
    assert evaluate(compile_ruleset(rules), thread_reply, ctx()) == ("notify",)
