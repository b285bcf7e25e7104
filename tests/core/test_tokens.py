"""Stream and pagination tokens: round trips and refusal of what we never issue."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeserver.core.tokens import InvalidToken, RoomPosition, StreamToken

positions = st.integers(min_value=0, max_value=2**63 - 1)


@given(st.lists(positions, min_size=8, max_size=8))
def test_stream_token_round_trips(values: list[int]) -> None:
    token = StreamToken(*values)
    assert StreamToken.parse(token.encode()) == token


@given(positions, positions)
def test_room_position_round_trips(depth: int, stream: int) -> None:
    pos = RoomPosition(depth, stream)
    assert RoomPosition.parse(pos.encode()) == pos


def test_stream_token_with_fewer_positions_fills_zeros() -> None:
    assert StreamToken.parse("s5_3") == StreamToken(room=5, account_data=3)


@pytest.mark.parametrize(
    "text",
    ["", "x1", "s", "s1__2", "s-1", "s1_2_3_4_5_6_7_8_9", "s" + "9" * 20, "t1", "t1-" + "9" * 25],
)
def test_unreadable_tokens_are_refused(text: str) -> None:
    parse = RoomPosition.parse if text.startswith("t") else StreamToken.parse
    with pytest.raises(InvalidToken):
        parse(text)


def test_advance_never_moves_backwards() -> None:
    token = StreamToken(room=10, receipts=4)
    assert token.advance(room=5, receipts=6) == StreamToken(room=10, receipts=6)
