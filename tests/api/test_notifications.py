"""Notification counts and GET /notifications, driven by real room traffic."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import services_of
from tests.api.rooms_helpers import User, new_user

_txns = itertools.count()


async def send_content(user: User, room_id: str, content: dict[str, Any]) -> str:
    data = await user.ok("PUT", f"/rooms/{room_id}/send/m.room.message/n{next(_txns)}", content)
    event_id: str = data["event_id"]
    return event_id


async def dm(client: TestClient[Any, Any]) -> tuple[User, User, str]:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat")
    await alice.invite(room_id, bob)
    await bob.join(room_id)
    return alice, bob, room_id


async def counts(client: TestClient[Any, Any], user: User, room_id: str) -> tuple[int, int]:
    return await services_of(client).push.push_counts(user.user_id, room_id)


async def test_dm_message_notifies_other_member_with_sound(client: TestClient[Any, Any]) -> None:
    alice, bob, room_id = await dm(client)
    event_id = await alice.send(room_id, "hello there")
    assert await counts(client, bob, room_id) == (1, 0)
    assert await counts(client, alice, room_id) == (0, 0)
    data = await bob.ok("GET", "/notifications")
    assert "next_token" not in data
    # Newest first: the message, then the invite (read since bob joined).
    note, invite = data["notifications"]
    assert invite["event"]["type"] == "m.room.member"
    assert invite["read"] is True
    assert note["room_id"] == room_id
    assert note["event"]["event_id"] == event_id
    assert "room_id" not in note["event"]
    assert note["actions"] == ["notify", {"set_tweak": "sound", "value": "default"}]
    assert note["read"] is False
    assert isinstance(note["ts"], int)
    assert (await alice.ok("GET", "/notifications"))["notifications"] == []


async def test_invite_notifies_invited_user(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat")
    await alice.invite(room_id, bob)
    [note] = (await bob.ok("GET", "/notifications"))["notifications"]
    assert note["event"]["type"] == "m.room.member"
    assert note["event"]["state_key"] == bob.user_id


async def test_mention_counts_as_highlight(client: TestClient[Any, Any]) -> None:
    alice, bob, room_id = await dm(client)
    await alice.send(room_id, "no mention")
    mention = await send_content(
        alice,
        room_id,
        {"msgtype": "m.text", "body": "hey", "m.mentions": {"user_ids": [bob.user_id]}},
    )
    assert await counts(client, bob, room_id) == (2, 1)
    data = await bob.ok("GET", "/notifications", params={"only": "highlight"})
    assert [n["event"]["event_id"] for n in data["notifications"]] == [mention]


async def test_notice_is_not_counted(client: TestClient[Any, Any]) -> None:
    alice, bob, room_id = await dm(client)
    await send_content(alice, room_id, {"msgtype": "m.notice", "body": "beep"})
    assert await counts(client, bob, room_id) == (0, 0)


async def test_muted_room_rule_stops_notifications(client: TestClient[Any, Any]) -> None:
    alice, bob, room_id = await dm(client)
    await bob.ok("PUT", f"/pushrules/global/room/{room_id}", {"actions": []})
    await alice.send(room_id)
    assert await counts(client, bob, room_id) == (0, 0)


async def test_read_receipt_clears_counts(client: TestClient[Any, Any]) -> None:
    alice, bob, room_id = await dm(client)
    first = await alice.send(room_id, "one")
    await alice.send(room_id, "two")
    await bob.ok("POST", f"/rooms/{room_id}/receipt/m.read/{first}", {})
    assert await counts(client, bob, room_id) == (1, 0)
    reads = [n["read"] for n in (await bob.ok("GET", "/notifications"))["notifications"]]
    assert reads == [False, True, True]  # two, one, the invite
    last = await alice.send(room_id, "three")
    await bob.ok("POST", f"/rooms/{room_id}/receipt/m.read.private/{last}", {})
    assert await counts(client, bob, room_id) == (0, 0)


async def test_sending_a_message_marks_room_read(client: TestClient[Any, Any]) -> None:
    alice, bob, room_id = await dm(client)
    await alice.send(room_id, "one")
    await bob.send(room_id, "reply")
    assert await counts(client, bob, room_id) == (0, 0)
    assert await counts(client, alice, room_id) == (1, 0)


async def test_thread_counts_are_separate(client: TestClient[Any, Any]) -> None:
    alice, bob, room_id = await dm(client)
    root = await alice.send(room_id, "root")
    await send_content(
        alice,
        room_id,
        {
            "msgtype": "m.text",
            "body": "in thread",
            "m.relates_to": {"rel_type": "m.thread", "event_id": root},
        },
    )
    push = services_of(client).push
    assert await push.thread_counts(bob.user_id, room_id) == {"main": (1, 0), root: (1, 0)}
    await bob.ok("POST", f"/rooms/{room_id}/receipt/m.read/{root}", {"thread_id": "main"})
    assert await push.thread_counts(bob.user_id, room_id) == {root: (1, 0)}
    assert await counts(client, bob, room_id) == (1, 0)


async def test_notifications_paginate_newest_first(client: TestClient[Any, Any]) -> None:
    alice, bob, room_id = await dm(client)
    sent = [await alice.send(room_id, f"m{i}") for i in range(3)]
    page = await bob.ok("GET", "/notifications", params={"limit": "2"})
    assert [n["event"]["event_id"] for n in page["notifications"]] == [sent[2], sent[1]]
    rest = await bob.ok("GET", "/notifications", params={"limit": "3", "from": page["next_token"]})
    # sent[0], then the invite that brought bob in.
    assert [n["event"]["event_id"] for n in rest["notifications"]][:1] == [sent[0]]
    assert len(rest["notifications"]) == 2
    assert "next_token" not in rest


async def test_notifications_reject_bad_from_token(client: TestClient[Any, Any]) -> None:
    bob = await new_user(client, "bob")
    status, data = await bob.request("GET", "/notifications", params={"from": "nope"})
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")
    status, data = await bob.request("GET", "/notifications", params={"limit": "x"})
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")
