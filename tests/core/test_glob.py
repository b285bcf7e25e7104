"""Glob matching: agreement with a brute-force reference, word boundaries."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from homeserver.core.glob import compile_glob, compile_literal_word, matches_any_wildcard

_WORD = re.compile("[A-Za-z0-9_]", re.IGNORECASE)


def _translated(pattern: str, *, question_mark: bool, flags: int) -> re.Pattern[str]:
    """The naive translation (fnmatch-style): fine for tiny inputs only."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?" and question_mark:
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), flags)


def _inside_word(value: str, index: int) -> bool:
    return (
        0 < index < len(value)
        and _WORD.fullmatch(value[index - 1]) is not None
        and _WORD.fullmatch(value[index]) is not None
    )


def _bounded_search(regex: re.Pattern[str], value: str) -> bool:
    """Whether ``regex`` matches a substring whose two ends are not inside a word."""
    ends = [i for i in range(len(value) + 1) if not _inside_word(value, i)]
    return any(regex.fullmatch(value, a, b) for a in ends for b in ends if a <= b)


def reference(pattern: str, value: str, *, word_boundary: bool) -> bool:
    """Push rule semantics by brute force."""
    regex = _translated(pattern, question_mark=True, flags=re.IGNORECASE | re.DOTALL)
    if not word_boundary:
        return regex.fullmatch(value) is not None
    return _bounded_search(regex, value)


# Letters in both cases, word and non-word characters, regex metacharacters,
# a newline and the Kelvin sign (which matches "k" case-insensitively).
_PATTERN_CHARS = st.sampled_from(list("abkK*?*?.@_ \\[\u212a"))
_VALUE_CHARS = st.sampled_from(list("abkKAB.@_ \n\u212a[\\"))


@settings(max_examples=1500, deadline=None)
@given(
    pattern=st.text(_PATTERN_CHARS, max_size=7),
    value=st.text(_VALUE_CHARS, max_size=9),
    word_boundary=st.booleans(),
)
@example(pattern="*?*?z", value="aaz", word_boundary=False)
@example(pattern="ab*ba", value="aba", word_boundary=False)
@example(pattern="", value="abc", word_boundary=True)
@example(pattern="k", value="\u212a", word_boundary=True)
@example(pattern="@a", value="x@a", word_boundary=True)
@example(pattern="a*", value="ba", word_boundary=True)
def test_glob_agrees_with_reference(pattern: str, value: str, word_boundary: bool) -> None:
    got = bool(compile_glob(pattern, word_boundary=word_boundary)(value))
    assert got == reference(pattern, value, word_boundary=word_boundary)


@settings(max_examples=500, deadline=None)
@given(
    patterns=st.lists(st.text(st.sampled_from(list("ab*?.A")), max_size=6), max_size=3),
    value=st.text(st.sampled_from(list("abA?.")), max_size=8),
)
def test_type_wildcards_agree_with_reference(patterns: list[str], value: str) -> None:
    expected = any(
        _translated(p, question_mark=False, flags=re.DOTALL).fullmatch(value) for p in patterns
    )
    assert matches_any_wildcard(value, patterns) == expected


@settings(max_examples=500, deadline=None)
@given(text=st.text(_PATTERN_CHARS, max_size=5), value=st.text(_VALUE_CHARS, max_size=9))
def test_literal_word_agrees_with_reference(text: str, value: str) -> None:
    regex = re.compile(re.escape(text), re.IGNORECASE | re.DOTALL)
    assert bool(compile_literal_word(text)(value)) == _bounded_search(regex, value)


def test_word_boundary_allows_matches_that_start_or_end_with_punctuation() -> None:
    room = compile_glob("@room", word_boundary=True)
    assert room("hi@room")
    assert room("@room!")
    assert not room("@roomy")
    assert compile_glob("c++", word_boundary=True)("i like c++ a lot")
    assert not compile_glob("cake", word_boundary=True)("cupcake")
    assert compile_glob("cake*lie", word_boundary=True)("the cake is a lie!")
    assert not compile_glob("cake*lie", word_boundary=True)("the cake is a lier")


def test_wildcard_runs_mean_a_minimum_length() -> None:
    glob = compile_glob("a?*?*b")
    assert not glob("a1b")
    assert glob("a12b")
    assert glob("a123b")
    assert compile_glob("???")("abc")
    assert not compile_glob("???")("ab")


def test_type_wildcards_are_case_sensitive_and_question_mark_is_literal() -> None:
    assert matches_any_wildcard("m.room.message", ["m.room.*"])
    assert matches_any_wildcard("m.room.message", ["m.*.message"])
    assert not matches_any_wildcard("M.room.message", ["m.room.*"])
    assert not matches_any_wildcard("m.room.x", ["m.room.?"])
    assert matches_any_wildcard("m.room.?", ["m.room.?"])
