"""Tokenising for server-side search: words, and CJK character bigrams."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from homeserver.core.search_tokens import (
    MAX_TOKEN_CHARS,
    document_tokens,
    highlight_words,
    is_cjk,
    normalise,
    query_terms,
    query_tokens,
    searchable_text,
)

#: "FULL" and "STRASSE" in full-width Latin letters
FULL_WIDTH_FULL = "\uff26\uff35\uff2c\uff2c"
FULL_WIDTH_STRASSE = "\uff33\uff34\uff32\uff21\uff33\uff33\uff25"


def finds(text: str, query: str) -> bool:
    """What the index does: every query token is among the text's tokens."""
    tokens = query_tokens(query)
    return bool(tokens) and set(tokens) <= set(document_tokens(text))


#: precomposed Han, kana and Hangul syllables (NFKC leaves them alone)
cjk_chars = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0x3041, max_codepoint=0x3096),
    st.characters(min_codepoint=0x30A1, max_codepoint=0x30FA),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
)
mixed_text = st.text(
    alphabet=st.one_of(cjk_chars, st.characters(codec="utf-8"), st.sampled_from(" ,.!?")),
    max_size=60,
)


def test_chinese_words_found_by_bigrams_not_by_other_words() -> None:
    text = "我们明天开会讨论预算"
    assert finds(text, "开会")
    assert finds(text, "预算")
    assert finds(text, "讨论预算")
    assert not finds(text, "会议室")


def test_japanese_and_korean_found_inside_runs() -> None:
    assert finds("明日の会議は午後三時です", "会議")
    assert finds("내일 회의는 오후 세 시입니다", "회의")
    assert not finds("내일 회의는 오후 세 시입니다", "회사")


def test_single_cjk_character_query_matches_any_occurrence() -> None:
    assert query_tokens("会") == ["会"]
    assert finds("我们明天开会讨论预算", "会")
    assert not finds("我们明天开会讨论预算", "猫")


def test_latin_words_are_case_folded_and_width_normalised() -> None:
    text = "Let's discuss the BUDGET, Straße and " + FULL_WIDTH_FULL + " width"
    assert finds(text, "budget")
    assert finds(text, "strasse")
    assert finds(text, "full")
    assert finds(text, "Budget discuss")
    assert not finds(text, "budgets")


def test_mixed_scripts_split_at_script_changes() -> None:
    text = "Q3预算review会議"
    assert query_tokens(text) == ["q3", "预算", "review", "会議"]
    assert finds(text, "预算 review")


def test_punctuation_only_query_has_no_tokens() -> None:
    assert query_tokens(" ,.!? ") == []
    assert query_terms("--") == []


def test_long_words_are_cut_the_same_for_text_and_query() -> None:
    word = "x" * (MAX_TOKEN_CHARS * 3)
    assert set(document_tokens(word)) == {"x" * MAX_TOKEN_CHARS}
    assert finds(word, word)


def test_document_tokens_count_repeats() -> None:
    counts = document_tokens("budget budget plan")
    assert counts["budget"] == 2
    assert counts["plan"] == 1


def test_highlight_words_keep_the_spelling_of_the_text() -> None:
    terms = query_terms("budget " + FULL_WIDTH_STRASSE)
    assert terms == ["budget", "strasse"]
    assert highlight_words("The Budget, in Straße!", terms) == ["Budget", "Straße"]


def test_is_cjk_covers_the_four_scripts_only() -> None:
    assert all(is_cjk(c) for c in "漢ひカ한")
    assert not any(is_cjk(c) for c in "aЖ1 ،")


def test_searchable_text_picks_the_key_of_each_type() -> None:
    assert searchable_text("m.room.message", None, {"body": "hi"}) == ("content.body", "hi")
    assert searchable_text("m.room.name", "", {"name": "Ops"}) == ("content.name", "Ops")
    assert searchable_text("m.room.topic", "", {"topic": "T"}) == ("content.topic", "T")
    assert searchable_text("m.room.topic", "x", {"topic": "T"}) is None
    assert searchable_text("m.room.message", None, {"body": 5}) is None
    assert searchable_text("m.reaction", None, {"body": "hi"}) is None


@given(text=mixed_text)
def test_tokenising_is_deterministic(text: str) -> None:
    assert document_tokens(text) == document_tokens(text)
    assert query_tokens(text) == query_tokens(text)


@given(text=mixed_text)
def test_text_finds_itself(text: str) -> None:
    assert finds(text, text) == bool(query_tokens(text))


@given(
    text=mixed_text,
    run=st.text(alphabet=cjk_chars, min_size=2, max_size=12),
    start=st.integers(0, 10),
    size=st.integers(2, 12),
)
@example(text="", run="我们明天开会讨论预算", start=4, size=2)
def test_any_cjk_substring_of_two_or_more_finds_the_text(
    text: str, run: str, start: int, size: int
) -> None:
    document = text + " " + run + " " + text
    start = min(start, len(run) - 2)
    piece = run[start : start + size]
    assert len(piece) >= 2
    assert finds(document, piece)


@given(text=st.text(alphabet=cjk_chars, min_size=2, max_size=30), data=st.data())
def test_any_normalised_cjk_substring_finds_the_text(text: str, data: st.DataObject) -> None:
    normal = normalise(text)
    start = data.draw(st.integers(0, len(normal) - 2))
    end = data.draw(st.integers(start + 2, len(normal)))
    assert finds(text, normal[start:end])
