"""Unread counts when the default rules' answer is stored once per event
(``event_push_generic``) and only some members get a row of their own."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import services_of
from tests.api.rooms_helpers import User, new_user

_txns = itertools.count()


async def send_content(user: User, room_id: str, content: dict[str, Any]) -> str:
    data = await user.ok("PUT", f"/rooms/{room_id}/send/m.room.message/g{next(_txns)}", content)
    event_id: str = data["event_id"]
    return event_id


def text(body: str, mentions: list[str] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"msgtype": "m.text", "body": body}
    if mentions is not None:
        content["m.mentions"] = {"user_ids": mentions}
    return content


async def counts(client: TestClient[Any, Any], user: User, room_id: str) -> tuple[int, int]:
    return await services_of(client).push.push_counts(user.user_id, room_id)


async def row_counts(client: TestClient[Any, Any], room_id: str) -> tuple[int, int]:
    """(own rows, generic rows) stored for the room."""
    db = services_of(client).db
    async with db.read() as conn:
        own = await conn.fetchval(
            "SELECT COUNT(*) FROM event_push_actions WHERE room_id = $1", room_id
        )
        generic = await conn.fetchval(
            "SELECT COUNT(*) FROM event_push_generic WHERE room_id = $1", room_id
        )
    return int(own), int(generic)


async def member_since(client: TestClient[Any, Any], user: User, room_id: str) -> int | None:
    async with services_of(client).db.read() as conn:
        since = await conn.fetchval(
            "SELECT since FROM push_room_members WHERE user_id = $1 AND room_id = $2",
            user.user_id,
            room_id,
        )
    return None if since is None else int(since)


async def group(client: TestClient[Any, Any], size: int) -> tuple[User, list[User], str]:
    owner = await new_user(client, "owner")
    room_id = await owner.create_room(preset="public_chat")
    members = []
    for i in range(size):
        member = await new_user(client, f"member{i}")
        await member.join(room_id)
        members.append(member)
    return owner, members, room_id


async def test_plain_messages_store_one_row_per_event(client: TestClient[Any, Any]) -> None:
    owner, members, room_id = await group(client, 4)
    own_before, generic_before = await row_counts(client, room_id)
    for i in range(3):
        await send_content(owner, room_id, text(f"message {i}", mentions=[]))
    own_after, generic_after = await row_counts(client, room_id)
    assert (own_after - own_before, generic_after - generic_before) == (0, 3)
    for member in members:
        assert await counts(client, member, room_id) == (3, 0)
    assert await counts(client, owner, room_id) == (0, 0)


async def test_mentioned_member_gets_own_highlight(client: TestClient[Any, Any]) -> None:
    owner, (ann, ben, _), room_id = await group(client, 3)
    await send_content(owner, room_id, text("look", mentions=[ann.user_id]))
    assert await counts(client, ann, room_id) == (1, 1)
    assert await counts(client, ben, room_id) == (1, 0)
    # Legacy body mention by display name, without m.mentions.
    await ben.ok("PUT", f"/profile/{ben.user_id}/displayname", {"displayname": "Benedict"})
    await owner.send(room_id, "benedict, are you there?")
    # ben's profile change was his own event: it marked the room read.
    assert await counts(client, ben, room_id) == (1, 1)
    assert await counts(client, ann, room_id) == (2, 1)


async def test_muted_member_is_excluded_from_generic_rows(client: TestClient[Any, Any]) -> None:
    owner, (ann, ben), room_id = await group(client, 2)
    await ann.ok("PUT", f"/pushrules/global/room/{room_id}", {"actions": []})
    await send_content(owner, room_id, text("quiet", mentions=[]))
    assert await counts(client, ann, room_id) == (0, 0)
    assert await counts(client, ben, room_id) == (1, 0)
    assert (await ann.ok("GET", "/notifications"))["notifications"] == []
    [note] = [
        n
        for n in (await ben.ok("GET", "/notifications"))["notifications"]
        if n["event"]["type"] == "m.room.message"
    ]
    assert note["event"]["content"]["body"] == "quiet"
    assert note["read"] is False


async def test_custom_keyword_rule_highlights_one_member(client: TestClient[Any, Any]) -> None:
    owner, (ann, ben), room_id = await group(client, 2)
    await ann.ok(
        "PUT",
        "/pushrules/global/content/fruit",
        {"pattern": "banana", "actions": ["notify", {"set_tweak": "highlight"}]},
    )
    await send_content(owner, room_id, text("a banana for lunch", mentions=[]))
    assert await counts(client, ann, room_id) == (1, 1)
    assert await counts(client, ben, room_id) == (1, 0)


async def test_events_while_away_are_not_counted(client: TestClient[Any, Any]) -> None:
    owner, (ann,), room_id = await group(client, 1)
    await send_content(owner, room_id, text("before", mentions=[]))
    assert await counts(client, ann, room_id) == (1, 0)
    await ann.ok("POST", f"/rooms/{room_id}/leave", {})
    await send_content(owner, room_id, text("while away", mentions=[]))
    await ann.join(room_id)
    assert await counts(client, ann, room_id) == (0, 0)
    await send_content(owner, room_id, text("after", mentions=[]))
    assert await counts(client, ann, room_id) == (1, 0)
    # A profile change is a new join event but not a new membership.
    since = await member_since(client, ann, room_id)
    await ann.ok("PUT", f"/profile/{ann.user_id}/displayname", {"displayname": "Ann"})
    assert await member_since(client, ann, room_id) == since
    await send_content(owner, room_id, text("later", mentions=[]))
    assert await counts(client, ann, room_id) == (1, 0)
    await ann.ok("POST", f"/rooms/{room_id}/leave", {})
    assert await member_since(client, ann, room_id) is None


async def test_receipts_and_threads_apply_to_shared_rows(client: TestClient[Any, Any]) -> None:
    owner, (ann, ben), room_id = await group(client, 2)
    root = await send_content(owner, room_id, text("root", mentions=[]))
    await send_content(
        owner,
        room_id,
        {
            "msgtype": "m.text",
            "body": "reply",
            "m.mentions": {},
            "m.relates_to": {"rel_type": "m.thread", "event_id": root},
        },
    )
    push = services_of(client).push
    assert await push.thread_counts(ann.user_id, room_id) == {"main": (1, 0), root: (1, 0)}
    await ann.ok("POST", f"/rooms/{room_id}/receipt/m.read/{root}", {"thread_id": "main"})
    assert await push.thread_counts(ann.user_id, room_id) == {root: (1, 0)}
    assert await push.thread_counts(ben.user_id, room_id) == {"main": (1, 0), root: (1, 0)}
    last = await send_content(owner, room_id, text("last", mentions=[]))
    await ben.ok("POST", f"/rooms/{room_id}/receipt/m.read/{last}", {})
    assert await counts(client, ben, room_id) == (0, 0)
    assert await push.counts.total_unread(ann.user_id) == 2
    assert await push.counts.total_unread(ben.user_id) == 0


async def test_sync_reports_shared_counts(client: TestClient[Any, Any]) -> None:
    owner, (ann,), room_id = await group(client, 1)
    await send_content(owner, room_id, text("one", mentions=[]))
    await send_content(owner, room_id, text("two", mentions=[ann.user_id]))
    data = await ann.ok("GET", "/sync")
    room = data["rooms"]["join"][room_id]
    assert room["unread_notifications"] == {"notification_count": 2, "highlight_count": 1}
