"""Glob matching in time linear in the input (``*`` and, optionally, ``?``).

Globs come from users (push rule patterns, filter event types) and are
matched against text they may also control (message bodies), so a matcher
must never backtrack catastrophically. A glob translated to a regex does:
Python's ``re`` tries ``a.*a.*a.*b`` in time O(n**k) for k stars when it
fails, and ``*?*?*?*?*?z`` against 200 characters took half a minute.

So a glob is split at its star runs into fixed-length segments (literal
characters and ``?``), and only those are regexes (no repetition of
variable length, hence no backtracking). A run of wildcards holding a star
and k question marks matches any k or more characters (``?*?*`` = ``??*``),
so it becomes a minimum gap before the next segment; a run of question marks
alone is part of a segment. Matching then takes the classic greedy path:

- the first segment at the start (or the leftmost place a word-bounded
  match may start), every middle segment at its leftmost place after the
  previous one and its gap, the last segment at the end (or anywhere after
  that with a word boundary behind it). Leftmost is always best: a segment's
  end is only a lower bound for the next one.
- each step is one regex search of a fixed-length segment, so a match costs
  O(n·m) for an input of n and a glob of m characters, whatever the glob.

Word-bounded matching (push rules on ``content.body``): the match must
start and end at places that are not inside a word, that is not between two
word characters. Word characters are ``[A-Za-z0-9_]`` (spec "Push Rules:
Conditions"); with ``ignore_case`` they include what matches those
case-insensitively (K, the Kelvin sign). So a match that begins or ends with
a non-word character needs nothing more around it (``@room`` matches in
``hi@room``), as Synapse's ``(?:^|\\b|\\W)…(?:\\b|\\W|$)`` allows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

#: Truthy when the value matches (a ``re.Match``, or True), falsy otherwise.
GlobMatcher = Callable[[str], object]

_WORD: Final = "[A-Za-z0-9_]"
_NON_WORD: Final = "[^A-Za-z0-9_]"
#: Not inside a word: where a word-bounded match may start or end.
_OUTSIDE_WORD: Final = f"(?:(?<!{_WORD})|(?!{_WORD}))"


@dataclass(frozen=True, slots=True)
class _Segment:
    """A fixed-length piece of a glob: literal characters and ``?``."""

    #: regex source: escaped literals and ``.``
    source: str
    #: the characters it matches
    length: int
    #: its first and last element: a literal character, or None for ``?``
    first: str | None
    last: str | None


@dataclass(frozen=True, slots=True)
class _Parsed:
    #: the segment before the first star run (maybe empty)
    head: _Segment
    #: (minimum gap, segment) after each star run; the last is anchored to
    #: the end; empty when the glob has no star
    tail: tuple[tuple[int, _Segment], ...]


class _SegmentBuilder:
    __slots__ = ("first", "last", "length", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.first: str | None = None
        self.last: str | None = None

    def literal(self, char: str) -> None:
        if self.length == 0:
            self.first = char
        self.parts.append(re.escape(char))
        self.length += 1
        self.last = char

    def any_chars(self, count: int) -> None:
        if self.length == 0:
            self.first = None
        self.parts.append("." if count == 1 else f".{{{count}}}")
        self.length += count
        self.last = None

    def build(self) -> _Segment:
        return _Segment("".join(self.parts), self.length, self.first, self.last)


def _parse(pattern: str, *, question_mark: bool) -> _Parsed:
    wildcards = "*?" if question_mark else "*"
    head: _Segment | None = None
    tail: list[tuple[int, _Segment]] = []
    gap = 0
    current = _SegmentBuilder()
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char not in wildcards:
            current.literal(char)
            i += 1
            continue
        end = i
        while end < len(pattern) and pattern[end] in wildcards:
            end += 1
        run = pattern[i:end]
        questions = run.count("?")
        if "*" not in run:
            current.any_chars(questions)
        else:
            if head is None:
                head = current.build()
            else:
                tail.append((gap, current.build()))
            gap = questions
            current = _SegmentBuilder()
        i = end
    if head is None:
        return _Parsed(current.build(), ())
    tail.append((gap, current.build()))
    return _Parsed(head, tuple(tail))


def _is_word(char: str, flags: int) -> bool:
    return re.fullmatch(_WORD, char, flags) is not None


def _left(element: str | None, flags: int) -> str:
    """Where a match starting with ``element`` may start: when it is a literal
    (whose case variants are all word or all non-word characters) the
    condition reduces to the character before it."""
    if element is None:
        return _OUTSIDE_WORD
    return f"(?<!{_WORD})" if _is_word(element, flags) else ""


def _right(element: str | None, flags: int) -> str:
    """Where a match ending with ``element`` may end."""
    if element is None:
        return _OUTSIDE_WORD
    return f"(?!{_WORD})" if _is_word(element, flags) else ""


@functools.lru_cache(maxsize=4096)
def compile_glob(
    pattern: str,
    *,
    word_boundary: bool = False,
    ignore_case: bool = True,
    question_mark: bool = True,
) -> GlobMatcher:
    """A matcher for a glob: ``*`` matches any run of characters, ``?`` one.

    Memoised: a pure function of its arguments, shared by every user's
    compiled push rules (the default rules repeat the same patterns).

    Args:
        pattern: the glob; every other character stands for itself.
        word_boundary: match any word-bounded substring (push rules on
            ``content.body``) rather than the whole value.
        ignore_case: compare case-insensitively.
        question_mark: ``?`` is a wildcard (push rules) rather than a
            literal (filters' event types, which only know ``*``).

    Returns:
        A function of the value, truthy when it matches. It runs in
        O(len(value) · len(pattern)).
    """
    return _compile(_parse(pattern, question_mark=question_mark), word_boundary, ignore_case)


@functools.lru_cache(maxsize=4096)
def compile_literal_word(text: str, *, ignore_case: bool = True) -> GlobMatcher:
    """A matcher for ``text`` as a word-bounded substring (no wildcards)."""
    builder = _SegmentBuilder()
    for char in text:
        builder.literal(char)
    return _compile(_Parsed(builder.build(), ()), True, ignore_case)


def _compile(parsed: _Parsed, word_boundary: bool, ignore_case: bool) -> GlobMatcher:
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    head = parsed.head
    if not parsed.tail:
        # No star: one fixed-length regex; a search tries each start once.
        if not word_boundary:
            return re.compile(head.source, flags).fullmatch
        bounded = _left(head.first, flags) + head.source + _right(head.last, flags)
        if head.length == 0:
            bounded = _OUTSIDE_WORD
        return re.compile(bounded, flags).search
    middles = tuple((gap, re.compile(s.source, flags), s.length) for gap, s in parsed.tail[:-1])
    last_gap, last = parsed.tail[-1]
    if word_boundary:
        return _word_matcher(head, middles, last_gap, last, flags)
    return _whole_matcher(head, middles, last_gap, last, flags)


_Middles = tuple[tuple[int, re.Pattern[str], int], ...]


def _whole_matcher(
    head: _Segment, middles: _Middles, last_gap: int, last: _Segment, flags: int
) -> GlobMatcher:
    head_match = re.compile(head.source, flags).match
    last_match = re.compile(last.source, flags).fullmatch
    minimum = head.length + sum(gap + length for gap, _, length in middles) + last_gap
    minimum += last.length

    def matches(value: str) -> bool:
        size = len(value)
        if size < minimum or head_match(value) is None:
            return False
        last_start = size - last.length
        if last_match(value, last_start) is None:
            return False
        limit = last_start - last_gap
        position = head.length
        for gap, segment, _ in middles:
            found = segment.search(value, position + gap, limit)
            if found is None:
                return False
            position = found.end()
        return position <= limit

    return matches


def _word_matcher(
    head: _Segment, middles: _Middles, last_gap: int, last: _Segment, flags: int
) -> GlobMatcher:
    # An empty head may start at 0, which is always a valid start.
    head_search = (
        re.compile(_left(head.first, flags) + head.source, flags).search if head.length else None
    )
    last_source = last.source + _right(last.last, flags) if last.length else _OUTSIDE_WORD
    last_search = re.compile(last_source, flags).search

    def matches(value: str) -> bool:
        size = len(value)
        position = 0
        if head_search is not None:
            found = head_search(value)
            if found is None:
                return False
            position = found.end()
        for gap, segment, _ in middles:
            start = position + gap
            if start > size:
                return False
            found = segment.search(value, start)
            if found is None:
                return False
            position = found.end()
        start = position + last_gap
        return start <= size and last_search(value, start) is not None

    return matches


def matches_any_wildcard(value: str, patterns: Iterable[str]) -> bool:
    """Whether ``value`` is one of ``patterns``, or matches one with ``*``
    wildcards, case-sensitively (filters' ``types``/``not_types``, where
    ``?`` is an ordinary character)."""
    return any(
        p == value or ("*" in p and compile_glob(p, ignore_case=False, question_mark=False)(value))
        for p in patterns
    )
