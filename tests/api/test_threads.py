"""Threads: the m.thread summary bundled on roots, and GET /rooms/{roomId}/threads."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st

from tests.api.rooms_helpers import User, new_user
from tests.api.test_relations import FUZZ, V1, edit_of, related, send, send_ok

Client = TestClient[Any, Any]


async def threads_request(user: User, room_id: str, **query: str) -> tuple[int, Any]:
    resp = await user.client.get(
        f"{V1}/rooms/{room_id}/threads", params=query, headers=user.headers
    )
    return resp.status, await resp.json()


async def threads(user: User, room_id: str, **query: str) -> Any:
    status, body = await threads_request(user, room_id, **query)
    assert status == 200, body
    return body


def ids(chunk: list[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in chunk]


async def room_with_bob(alice: User, bob: User) -> str:
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    return room_id


async def test_thread_summary_is_bundled_on_the_root(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await room_with_bob(alice, bob)
    await carol.join(room_id)
    root = await alice.send(room_id, "root")
    await send_ok(alice, room_id, related("m.thread", root, "one"))
    latest = await send_ok(bob, room_id, related("m.thread", root, "two"))
    edit = await send_ok(bob, room_id, edit_of(latest, "two, edited"))

    seen_by_bob = await bob.ok("GET", f"/rooms/{room_id}/event/{root}")
    thread = seen_by_bob["unsigned"]["m.relations"]["m.thread"]
    assert thread["count"] == 2
    assert thread["current_user_participated"] is True
    assert thread["latest_event"]["event_id"] == latest
    assert thread["latest_event"]["content"]["body"] == "two"
    latest_edit = thread["latest_event"]["unsigned"]["m.relations"]["m.replace"]
    assert latest_edit["event_id"] == edit

    seen_by_alice = await alice.ok("GET", f"/rooms/{room_id}/event/{root}")
    assert seen_by_alice["unsigned"]["m.relations"]["m.thread"]["current_user_participated"]
    seen_by_carol = await carol.ok("GET", f"/rooms/{room_id}/event/{root}")
    assert (
        seen_by_carol["unsigned"]["m.relations"]["m.thread"]["current_user_participated"] is False
    )


async def test_redacting_a_thread_reply_updates_the_summary(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    root = await alice.send(room_id, "root")
    first = await send_ok(alice, room_id, related("m.thread", root, "one"))
    second = await send_ok(alice, room_id, related("m.thread", root, "two"))
    await alice.ok("PUT", f"/rooms/{room_id}/redact/{second}/r1", {})
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{root}")
    thread = event["unsigned"]["m.relations"]["m.thread"]
    assert thread["count"] == 1
    assert thread["latest_event"]["event_id"] == first
    await alice.ok("PUT", f"/rooms/{room_id}/redact/{first}/r2", {})
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{root}")
    assert "m.relations" not in event["unsigned"]
    assert (await threads(alice, room_id))["chunk"] == []


async def test_reply_fallback_does_not_make_a_thread(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    root = await alice.send(room_id, "root")
    plain_reply = {
        "msgtype": "m.text",
        "body": "reply",
        "m.relates_to": {"m.in_reply_to": {"event_id": root}},
    }
    await send_ok(alice, room_id, plain_reply)
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{root}")
    assert "m.relations" not in event["unsigned"]
    in_thread = {
        "msgtype": "m.text",
        "body": "in thread",
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root},
        },
    }
    await send_ok(alice, room_id, in_thread)
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{root}")
    assert event["unsigned"]["m.relations"]["m.thread"]["count"] == 1


async def test_thread_from_a_relation_is_refused(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    root = await alice.send(room_id, "root")
    reply = await send_ok(alice, room_id, related("m.thread", root))
    status, body = await send(alice, room_id, related("m.thread", reply))
    assert status == 400
    assert isinstance(body["errcode"], str)


async def test_threads_are_listed_by_latest_activity(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    older = await alice.send(room_id, "first root")
    newer = await alice.send(room_id, "second root")
    await alice.send(room_id, "not a thread")
    await send_ok(alice, room_id, related("m.thread", newer))
    await send_ok(alice, room_id, related("m.thread", older))
    body = await threads(alice, room_id)
    assert ids(body["chunk"]) == [older, newer]
    assert "next_batch" not in body
    assert body["chunk"][0]["unsigned"]["m.relations"]["m.thread"]["count"] == 1

    await send_ok(alice, room_id, related("m.thread", newer))
    first = await threads(alice, room_id, limit="1")
    assert ids(first["chunk"]) == [newer]
    second = await threads(alice, room_id, limit="1", **{"from": first["next_batch"]})
    assert ids(second["chunk"]) == [older]
    assert "next_batch" not in second


async def test_threads_participated_filter(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await room_with_bob(alice, bob)
    alices = await alice.send(room_id, "alice's root")
    bobs = await bob.send(room_id, "bob's root")
    replied = await alice.send(room_id, "bob replies here")
    await send_ok(alice, room_id, related("m.thread", alices))
    await send_ok(alice, room_id, related("m.thread", bobs))
    await send_ok(bob, room_id, related("m.thread", replied))
    everything = await threads(bob, room_id, include="all")
    assert set(ids(everything["chunk"])) == {alices, bobs, replied}
    mine = await threads(bob, room_id, include="participated")
    assert ids(mine["chunk"]) == [replied, bobs]


async def test_threads_outsider_is_forbidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    eve = await new_user(client, "eve")
    room_id = await alice.create_room()
    status, body = await threads_request(eve, room_id)
    assert status == 403
    assert body["errcode"] == "M_FORBIDDEN"


async def test_threads_bad_params_are_invalid_param(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    for query in ({"include": "some"}, {"from": "x"}, {"limit": "0"}, {"limit": "z"}):
        status, body = await threads_request(alice, room_id, **query)
        assert status == 400, query
        assert body["errcode"] == "M_INVALID_PARAM"


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["from", "include", "limit"]) | st.text(max_size=5),
        st.text(max_size=25)
        | st.sampled_from(["all", "participated", "1", "99999999999999999999"]),
        max_size=4,
    )
)
async def test_threads_random_params_never_500(client: Client, query: dict[str, str]) -> None:
    if not hasattr(client, "_thread_fuzz"):
        user = await new_user(client, "fuzzer")
        room_id = await user.create_room()
        root = await user.send(room_id, "root")
        await send_ok(user, room_id, related("m.thread", root))
        client._thread_fuzz = (user, room_id)  # type: ignore[attr-defined]
    user, room_id = client._thread_fuzz  # type: ignore[attr-defined]
    status, body = await threads_request(user, room_id, **query)
    assert status < 500
    if status >= 400:
        assert isinstance(body["errcode"], str)
        assert isinstance(body["error"], str)
