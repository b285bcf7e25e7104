"""ai_bot against our homeserver and a fake OpenAI-compatible LLM server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appservices.ai_bot import AiBotConfig, create_bridge
from tests.api.rooms_helpers import User, new_user
from tests.appservices.fake_llm import FakeLlm
from tests.appservices.stack import Stack, start_stack, wait_for_messages, wait_until

BOT = "@testbot:test.local"


@pytest.fixture
async def llm() -> AsyncIterator[FakeLlm]:
    fake = FakeLlm()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def stack(
    client_for: Any, tmp_path: Path, bridge_db_url: str, llm: FakeLlm
) -> AsyncIterator[Stack]:
    ai = {"base_url": llm.base_url, "model": "tiny", "api_key": "k", "edit_interval_s": 0}
    started = await start_stack(client_for, tmp_path, AiBotConfig, bridge_db_url, ai=ai)
    await started.start_bridge(create_bridge)
    yield started
    await started.stop_bridge()


def _from_bot(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["sender"] == BOT]


def _final_text(messages: list[dict[str, Any]], answer: str) -> bool:
    return any(m["content"].get("m.new_content", {}).get("body") == answer for m in messages)


async def _room_with_bot(stack: Stack, alice: User, **body: Any) -> str:
    room_id = await alice.create_room(invite=[BOT], **body)
    await wait_until(lambda: stack.bridge.store.membership(room_id, BOT))
    members = lambda: alice.ok("GET", f"/rooms/{room_id}/joined_members")  # noqa: E731
    await wait_until(lambda: _has_member(members, BOT))
    return room_id


async def _has_member(members: Any, user_id: str) -> bool:
    return user_id in (await members())["joined"]


async def test_bot_answers_when_mentioned_in_room(stack: Stack, llm: FakeLlm) -> None:
    alice = await new_user(stack.hs, "alice")
    bob = await new_user(stack.hs, "bob")
    room_id = await _room_with_bot(stack, alice, preset="public_chat")
    await bob.join(room_id)
    await alice.send(room_id, "nobody asked the bot this")
    await alice.send(room_id, "testbot, what is the capital of France?")
    messages = await wait_for_messages(
        alice, room_id, lambda m: _final_text(_from_bot(m), llm.answer)
    )
    assert len(llm.requests) == 1
    assert _from_bot(messages)[0]["content"]["body"] == llm.answer[: llm.chunk_size]


async def test_bot_answers_when_direct_chat(stack: Stack, llm: FakeLlm) -> None:
    alice = await new_user(stack.hs, "alice")
    room_id = await _room_with_bot(stack, alice, is_direct=True, preset="trusted_private_chat")
    await alice.send(room_id, "hello there")
    await wait_for_messages(alice, room_id, lambda m: _final_text(_from_bot(m), llm.answer))
    assert llm.requests[0]["model"] == "tiny"
    assert llm.requests[0]["stream"] is True
    assert llm.requests[0]["messages"][-1] == {
        "role": "user",
        "content": f"{alice.user_id}: hello there",
    }


async def test_bot_silent_when_not_mentioned_in_group(stack: Stack, llm: FakeLlm) -> None:
    alice = await new_user(stack.hs, "alice")
    bob = await new_user(stack.hs, "bob")
    room_id = await _room_with_bot(stack, alice, preset="public_chat")
    await bob.join(room_id)
    await alice.send(room_id, "just chatting")
    await alice.send(room_id, "hey testbot, ping")
    await wait_for_messages(alice, room_id, lambda m: _final_text(_from_bot(m), llm.answer))
    # Only the mention was answered.
    assert len(llm.requests) == 1


async def test_context_holds_earlier_turns_when_asked_again(stack: Stack, llm: FakeLlm) -> None:
    alice = await new_user(stack.hs, "alice")
    room_id = await _room_with_bot(stack, alice, is_direct=True, preset="trusted_private_chat")
    await alice.send(room_id, "my name is Alice")
    await wait_for_messages(alice, room_id, lambda m: _final_text(_from_bot(m), llm.answer))
    await stack.bridge.wait_idle()
    llm.answer = "Your name is Alice."
    await alice.send(room_id, "what is my name?")
    await wait_for_messages(alice, room_id, lambda m: _final_text(_from_bot(m), llm.answer))
    sent = llm.requests[1]["messages"]
    assert sent[0]["role"] == "system"
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", f"{alice.user_id}: my name is Alice"),
        ("assistant", "The capital of France is Paris, a city on the Seine."),
        ("user", f"{alice.user_id}: what is my name?"),
    ]


async def test_streamed_answer_arrives_as_message_then_edits(stack: Stack, llm: FakeLlm) -> None:
    alice = await new_user(stack.hs, "alice")
    room_id = await _room_with_bot(stack, alice, is_direct=True, preset="trusted_private_chat")
    await alice.send(room_id, "tell me")
    messages = await wait_for_messages(
        alice, room_id, lambda m: _final_text(_from_bot(m), llm.answer)
    )
    from_bot = _from_bot(messages)
    first, edits = from_bot[0], from_bot[1:]
    assert "m.relates_to" not in first["content"]
    assert len(edits) >= 2
    for edit in edits:
        assert edit["content"]["m.relates_to"] == {
            "rel_type": "m.replace",
            "event_id": first["event_id"],
        }
    assert edits[-1]["content"]["m.new_content"] == {"msgtype": "m.text", "body": llm.answer}


async def test_bot_apologises_when_llm_fails(stack: Stack, llm: FakeLlm) -> None:
    alice = await new_user(stack.hs, "alice")
    room_id = await _room_with_bot(stack, alice, is_direct=True, preset="trusted_private_chat")
    llm.fail_status = 500
    await alice.send(room_id, "are you there?")
    messages = await wait_for_messages(alice, room_id, lambda m: bool(_from_bot(m)))
    assert _from_bot(messages)[0]["content"] == {
        "msgtype": "m.notice",
        "body": "Sorry, I can't answer right now: the language model server answered HTTP 500. "
        "Please try again in a moment.",
    }
    # Still alive: the next question is answered once the server is back.
    llm.fail_status = None
    await stack.bridge.wait_idle()
    await alice.send(room_id, "and now?")
    await wait_for_messages(alice, room_id, lambda m: _final_text(_from_bot(m), llm.answer))
