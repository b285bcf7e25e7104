"""Tokenising text for server-side search, the same way for documents and queries.

Full-text engines that split on whitespace find nothing in Chinese or
Japanese (no spaces between words) and little in Korean (particles stick to
words: 회의는 = 회의 + 는). So:

1. the text is NFKC-normalised and case-folded (full-width Latin becomes
   ASCII, half-width katakana becomes full-width, "Straße" matches "strasse");
2. runs of Han, Hiragana, Katakana and Hangul characters become overlapping
   character bigrams plus one unigram per character (開会討論 →
   開会, 会討, 討論 and 開, 会, 討, 論);
3. every other run of letters, digits and combining marks is a word; anything
   else separates words.

A query is tokenised the same way, except that a CJK run of two or more
characters gives only its bigrams (a unigram query matches any text holding
that character). A document matches when it holds every query token, so any
substring of two or more CJK characters of a normalised text finds it, and
so does any whole word of the other scripts. Bigrams may match out of order
(会議室 does not match 室会議 only because 室会 is missing): precision is
traded for recall, as search engines for these languages commonly do.

Pure: no I/O; the storage layer keeps one row per (token, event). Changing
how text is tokenised needs a delta that rebuilds the index.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Longer tokens are cut (the same for documents and queries), bounding
#: index rows: a 64 KiB "word" cannot make a 64 KiB key.
MAX_TOKEN_CHARS = 64

#: Which content key of which event type is searched (spec: ``keys``).
SEARCH_KEYS: Mapping[str, str] = {
    "m.room.message": "content.body",
    "m.room.name": "content.name",
    "m.room.topic": "content.topic",
}

#: (first, last) code points, inclusive, of the scripts written without spaces.
_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),  # iteration mark, closing mark, ideographic zero
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3031, 0x3035),  # kana repeat marks
    (0x303B, 0x303C),  # 〻 〼
    (0x3040, 0x30FF),  # Hiragana, Katakana (with ー)
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul jamo extended A
    (0xAC00, 0xD7FF),  # Hangul syllables, jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width katakana (NFKC makes most full-width)
    (0xFFA0, 0xFFDC),  # half-width Hangul
    (0x1B000, 0x1B16F),  # kana supplement and extended
    (0x20000, 0x3134F),  # CJK extensions B to G, compatibility supplement
)

_OTHER, _WORD, _CJK = 0, 1, 2


def is_cjk(char: str) -> bool:
    """True for a Han, Hiragana, Katakana or Hangul character."""
    code = ord(char)
    if code < 0x1100:
        return False
    return any(first <= code <= last for first, last in _CJK_RANGES)


def _kind(char: str) -> int:
    if char.isascii():
        return _WORD if char.isalnum() else _OTHER
    if is_cjk(char):
        return _CJK
    # Letters, numbers and combining marks (Devanagari vowel signs, Thai
    # tone marks…) belong to words; punctuation, symbols and spaces do not.
    return _WORD if unicodedata.category(char)[0] in "LMN" else _OTHER


def normalise(text: str) -> str:
    """NFKC + case folding (NFKC again: folding can leave unnormalised text)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True, slots=True)
class Run:
    """A maximal run of word or CJK characters of the normalised text."""

    text: str
    cjk: bool


def runs(text: str) -> list[Run]:
    """The word and CJK runs of ``text`` (normalised first), in order."""
    out: list[Run] = []
    current: list[str] = []
    current_kind = _OTHER
    for char in normalise(text):
        kind = _kind(char)
        if kind != current_kind and current:
            out.append(Run("".join(current), current_kind == _CJK))
            current = []
        current_kind = kind
        if kind != _OTHER:
            current.append(char)
    if current:
        out.append(Run("".join(current), current_kind == _CJK))
    return out


def _cjk_tokens(run: str, *, with_unigrams: bool) -> list[str]:
    if len(run) == 1:
        return [run]
    tokens = [run[i : i + 2] for i in range(len(run) - 1)]
    if with_unigrams:
        tokens.extend(run)
    return tokens


def document_tokens(text: str) -> Counter[str]:
    """The tokens to index for a text, with how often each occurs."""
    counts: Counter[str] = Counter()
    for run in runs(text):
        if run.cjk:
            counts.update(_cjk_tokens(run.text, with_unigrams=True))
        else:
            counts[run.text[:MAX_TOKEN_CHARS]] += 1
    return counts


def query_tokens(text: str) -> list[str]:
    """The distinct tokens a matching document must all hold, in query order."""
    tokens: dict[str, None] = {}
    for run in runs(text):
        if run.cjk:
            tokens.update(dict.fromkeys(_cjk_tokens(run.text, with_unigrams=False)))
        else:
            tokens[run.text[:MAX_TOKEN_CHARS]] = None
    return list(tokens)


def query_terms(text: str) -> list[str]:
    """The query's words and CJK runs (normalised), for ``highlights``."""
    return list(dict.fromkeys(run.text for run in runs(text)))


def highlight_words(text: str, terms: Sequence[str]) -> list[str]:
    """The words of ``text``, as written there, that normalise to one of ``terms``.

    Clients highlight results by looking for these strings, so "Budget" is
    given for the query "budget". CJK terms need no such help: they are
    substrings of the text already.
    """
    wanted = set(terms)
    out: dict[str, None] = {}
    current: list[str] = []
    for char in (*text, " "):
        if _kind(char) == _WORD:
            current.append(char)
            continue
        if current:
            word = "".join(current)
            if normalise(word) in wanted:
                out[word] = None
            current = []
    return list(out)


def searchable_text(
    event_type: str, state_key: str | None, content: Mapping[str, Any]
) -> tuple[str, str] | None:
    """``(key, text)`` to index for an event, or None when nothing is searchable.

    ``content.body`` of messages, ``content.name``/``content.topic`` of the
    room's name and topic state events.
    """
    key = SEARCH_KEYS.get(event_type)
    if key is None:
        return None
    if event_type == "m.room.message" and state_key is not None:
        return None
    if event_type != "m.room.message" and state_key != "":
        return None
    value = content.get(key.removeprefix("content."))
    if not isinstance(value, str) or not value:
        return None
    return key, value
