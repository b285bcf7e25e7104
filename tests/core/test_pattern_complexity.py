"""User-supplied patterns are processed in time linear in the input.

Push rule globs, filter event-type wildcards, display names and search
terms all come from users, and so do the texts they are matched against. A
pattern that makes a backtracking regex explode must not freeze the event
loop: every case below is an adversarial pattern over inputs of growing
size (see ``scaling.assert_linear``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from homeserver.core.glob import compile_glob, compile_literal_word, matches_any_wildcard
from homeserver.core.push.evaluator import (
    PushContext,
    compile_ruleset,
    evaluate,
    flatten_event,
    match_rule,
)
from homeserver.core.push.rules import CONTENT, OVERRIDE, PushRule
from homeserver.core.push.ruleset import build_ruleset
from homeserver.core.search_tokens import document_tokens, highlight_words, query_tokens
from tests.core.scaling import assert_linear

ALICE = "@alice:example.org"

#: (glob, the repeated input unit, the input's tail) whose naive regex
#: backtracks: stars mixed with question marks, many stars before a missing
#: last character, question marks inside segments (no literal to skip to).
ADVERSARIAL_GLOBS = [
    ("*?*?*?*?*?z", "a", ""),
    ("a*a*a*a*a*a*a*b", "a", ""),
    ("*a?a?a?a?a?b*", "a", ""),
    ("a*b*c*d*e*f*g*z", "abcdefg", ""),
    ("?*?*?*?*?*?*!", "a ", "a"),
    ("*@*@*@*@*:*x", "@:", ""),
]


@pytest.mark.parametrize("word_boundary", [False, True])
@pytest.mark.parametrize(("pattern", "unit", "tail"), ADVERSARIAL_GLOBS)
def test_push_glob_is_linear_in_the_value(
    pattern: str, unit: str, tail: str, word_boundary: bool
) -> None:
    matcher = compile_glob(pattern, word_boundary=word_boundary)
    assert_linear(matcher, lambda n: unit * (n // len(unit)) + tail, 20_000)


def test_content_rule_that_froze_the_server_is_fast() -> None:
    # Was 28 s with a 200-character body: `*?` mixes were not collapsed.
    rule = PushRule(CONTENT, "freeze", ("notify",), pattern="*?*?*?*?*?z")
    ruleset = compile_ruleset(build_ruleset(ALICE, [rule]))
    context = PushContext(ALICE, 2, "Alice", 0, {"room": 50})
    for body, rule_id in [("a" * 200, ".m.rule.room_one_to_one"), ("a" * 65_000 + " z", "freeze")]:
        start = time.perf_counter()
        found = match_rule(ruleset, _message(body), context)
        assert time.perf_counter() - start < 0.5
        assert found is not None
        assert found.rule_id == rule_id


def _message(body: str, **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "sender": "@bob:example.org",
        "room_id": "!r:example.org",
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def test_evaluating_user_rules_is_linear_in_the_event() -> None:
    rules = [
        PushRule(CONTENT, "c", ("notify",), pattern="a?a?a?a*a*a*a*b"),
        PushRule(
            OVERRIDE,
            "o",
            ("notify",),
            conditions=(
                {"kind": "event_match", "key": "content.topic", "pattern": "*?*?*?*?*?*z"},
            ),
        ),
    ]
    ruleset = compile_ruleset(build_ruleset(ALICE, rules))
    context = PushContext(ALICE, 5, "aaaaaaaab", 0, {"room": 50})

    def make(n: int) -> Any:
        return flatten_event(_message("a" * n, topic="a" * n))

    assert_linear(lambda event: evaluate(ruleset, event, context), make, 20_000)


def test_display_name_search_is_linear_in_the_body() -> None:
    matcher = compile_literal_word("a a a a a a a b")
    assert_linear(matcher, lambda n: "a " * (n // 2), 20_000)


@pytest.mark.parametrize(
    ("pattern", "unit"),
    [("m.*.*.*.*.*.*.x", "a."), ("*a*a*a*a*a*a*b", "a"), ("*?*?*?*z", "?")],
)
def test_event_type_wildcards_are_linear_in_the_type(pattern: str, unit: str) -> None:
    assert_linear(
        lambda event_type: matches_any_wildcard(event_type, [pattern]),
        lambda n: "m." + unit * (n // len(unit)),
        20_000,
    )


@pytest.mark.parametrize("unit", ["a", "a ", "会a", "Straße ", "ﾊﾞ"], ids=repr)
def test_search_tokens_are_linear_in_the_text(unit: str) -> None:
    def make(n: int) -> str:
        return unit * (n // len(unit))

    assert_linear(document_tokens, make, 1_000)
    assert_linear(query_tokens, make, 1_000)
    terms = query_tokens(unit * 3)
    assert_linear(lambda text: highlight_words(text, terms), make, 1_000)
