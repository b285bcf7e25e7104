"""GET /rooms/{roomId}/relations/…, bundled aggregations and the relation
rules at send time."""

from __future__ import annotations

import itertools
import json
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]
V1 = "/_matrix/client/v1"
_txn = itertools.count()


async def send(
    user: User, room_id: str, content: dict[str, Any], event_type: str = "m.room.message"
) -> tuple[int, Any]:
    return await user.request("PUT", f"/rooms/{room_id}/send/{event_type}/rel{next(_txn)}", content)


async def send_ok(
    user: User, room_id: str, content: dict[str, Any], event_type: str = "m.room.message"
) -> str:
    status, body = await send(user, room_id, content, event_type)
    assert status == 200, body
    event_id: str = body["event_id"]
    return event_id


def edit_of(target: str, body: str) -> dict[str, Any]:
    return {
        "msgtype": "m.text",
        "body": f"* {body}",
        "m.new_content": {"msgtype": "m.text", "body": body},
        "m.relates_to": {"rel_type": "m.replace", "event_id": target},
    }


def related(rel_type: str, target: str, body: str = "x") -> dict[str, Any]:
    return {
        "msgtype": "m.text",
        "body": body,
        "m.relates_to": {"rel_type": rel_type, "event_id": target},
    }


def reaction(target: str, key: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}}


async def relations(user: User, room_id: str, event_id: str, tail: str = "", **query: str) -> Any:
    status, body = await relations_request(user, room_id, event_id, tail, **query)
    assert status == 200, body
    return body


async def relations_request(
    user: User, room_id: str, event_id: str, tail: str = "", **query: str
) -> tuple[int, Any]:
    resp = await user.client.get(
        f"{V1}/rooms/{room_id}/relations/{quote(event_id)}{tail}",
        params=query,
        headers=user.headers,
    )
    return resp.status, await resp.json()


def ids(chunk: list[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in chunk]


# --- GET /relations -----------------------------------------------------------------


async def test_relations_pages_backwards_and_forwards(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    root = await alice.send(room_id, "root")
    children = [
        await send_ok(alice, room_id, related("m.reference", root, str(i))) for i in range(5)
    ]
    await alice.send(room_id, "unrelated")

    first = await relations(alice, room_id, root, limit="2")
    assert ids(first["chunk"]) == [children[4], children[3]]
    assert "prev_batch" not in first
    second = await relations(alice, room_id, root, limit="2", **{"from": first["next_batch"]})
    assert ids(second["chunk"]) == [children[2], children[1]]
    assert second["prev_batch"] == first["next_batch"]
    third = await relations(alice, room_id, root, limit="2", **{"from": second["next_batch"]})
    assert ids(third["chunk"]) == [children[0]]
    assert "next_batch" not in third

    forwards = await relations(alice, room_id, root, dir="f", limit="3")
    assert ids(forwards["chunk"]) == children[:3]
    rest = await relations(alice, room_id, root, dir="f", **{"from": forwards["next_batch"]})
    assert ids(rest["chunk"]) == children[3:]
    assert "recursion_depth" not in rest


async def test_relations_to_token_bounds_the_page(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    root = await alice.send(room_id, "root")
    children = [await send_ok(alice, room_id, related("m.reference", root)) for _ in range(4)]
    page = await relations(alice, room_id, root, limit="2")
    bounded = await relations(alice, room_id, root, to=page["next_batch"])
    assert ids(bounded["chunk"]) == [children[3], children[2]]


async def test_relations_filter_by_rel_type_and_event_type(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    root = await alice.send(room_id, "root")
    ref = await send_ok(alice, room_id, related("m.reference", root))
    react = await send_ok(alice, room_id, reaction(root, "👍"), "m.reaction")
    other = await send_ok(alice, room_id, related("m.reference", root), "org.example.custom")
    assert set(ids((await relations(alice, room_id, root))["chunk"])) == {ref, react, other}
    by_type = await relations(alice, room_id, root, "/m.reference")
    assert ids(by_type["chunk"]) == [other, ref]
    by_both = await relations(alice, room_id, root, "/m.reference/m.room.message")
    assert ids(by_both["chunk"]) == [ref]
    reactions = await relations(alice, room_id, root, "/m.annotation/m.reaction")
    assert ids(reactions["chunk"]) == [react]


async def test_relations_recurse_includes_indirect_children(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    root = await alice.send(room_id, "root")
    child = await send_ok(alice, room_id, related("m.thread", root))
    grandchild = await send_ok(alice, room_id, reaction(child, "👍"), "m.reaction")
    direct = await relations(alice, room_id, root, recurse="false")
    assert ids(direct["chunk"]) == [child]
    assert direct["recursion_depth"] == 1
    deep = await relations(alice, room_id, root, recurse="true")
    assert ids(deep["chunk"]) == [grandchild, child]
    assert deep["recursion_depth"] == 3


async def test_relations_unknown_parent_is_not_found(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await relations_request(alice, room_id, "$nope:test.local")
    assert status == 404
    assert body["errcode"] == "M_NOT_FOUND"
    other_room = await alice.create_room()
    root = await alice.send(other_room, "elsewhere")
    status, body = await relations_request(alice, room_id, root)
    assert status == 404


async def test_relations_invisible_parent_is_not_found(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await alice.put_state(room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    root = await alice.send(room_id, "before bob")
    await bob.join(room_id)
    after = await alice.send(room_id, "after bob")
    status, body = await relations_request(bob, room_id, root)
    assert status == 404
    assert body["errcode"] == "M_NOT_FOUND"
    assert (await relations(bob, room_id, after))["chunk"] == []


async def test_relations_bad_params_are_invalid_param(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    root = await alice.send(room_id, "root")
    for query in ({"dir": "x"}, {"from": "garbage"}, {"limit": "many"}, {"recurse": "maybe"}):
        status, body = await relations_request(alice, room_id, root, **query)
        assert status == 400, query
        assert body["errcode"] == "M_INVALID_PARAM"


# --- m.replace ----------------------------------------------------------------------


async def test_edit_is_bundled_and_original_unchanged(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    original = await alice.send(room_id, "helo")
    await send_ok(alice, room_id, edit_of(original, "hello"))
    latest = await send_ok(alice, room_id, edit_of(original, "hello!"))

    event = await alice.ok("GET", f"/rooms/{room_id}/event/{original}")
    assert event["content"]["body"] == "helo"
    replace = event["unsigned"]["m.relations"]["m.replace"]
    assert replace["event_id"] == latest
    assert replace["sender"] == alice.user_id
    assert replace["content"]["m.new_content"]["body"] == "hello!"
    assert isinstance(replace["origin_server_ts"], int)

    messages = await alice.ok("GET", f"/rooms/{room_id}/messages", params={"limit": "10"})
    served = next(e for e in messages["chunk"] if e["event_id"] == original)
    assert served["unsigned"]["m.relations"]["m.replace"]["event_id"] == latest
    context = await alice.ok("GET", f"/rooms/{room_id}/context/{original}")
    assert context["event"]["unsigned"]["m.relations"]["m.replace"]["event_id"] == latest
    edits = await relations(alice, room_id, original, "/m.replace")
    assert len(edits["chunk"]) == 2
    assert all("m.relations" not in e["unsigned"] for e in edits["chunk"])


async def test_edit_is_bundled_in_sync_timeline(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    original = await alice.send(room_id, "helo")
    latest = await send_ok(alice, room_id, edit_of(original, "hello"))
    sync_filter = json.dumps({"room": {"timeline": {"limit": 50}}})
    body = await alice.ok("GET", "/sync", params={"filter": sync_filter})
    timeline = body["rooms"]["join"][room_id]["timeline"]["events"]
    served = next(e for e in timeline if e["event_id"] == original)
    assert served["unsigned"]["m.relations"]["m.replace"]["event_id"] == latest


async def test_invalid_edits_are_stored_but_ignored(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    original = await alice.send(room_id, "mine")
    await send_ok(bob, room_id, edit_of(original, "bob's edit"))
    await send_ok(alice, room_id, edit_of(original, "other type"), "org.example.other")
    await send_ok(alice, room_id, related("m.replace", original, "no new content"))
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{original}")
    assert "m.relations" not in event["unsigned"]
    edits = await relations(alice, room_id, original, "/m.replace")
    assert len(edits["chunk"]) == 3


async def test_edit_of_an_edit_is_ignored(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    original = await alice.send(room_id, "a")
    edit = await send_ok(alice, room_id, edit_of(original, "b"))
    await send_ok(alice, room_id, edit_of(edit, "c"))
    served = await alice.ok("GET", f"/rooms/{room_id}/event/{edit}")
    assert "m.relations" not in served["unsigned"]
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{original}")
    assert event["unsigned"]["m.relations"]["m.replace"]["event_id"] == edit


async def test_redacting_an_edit_falls_back_to_the_previous_one(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    original = await alice.send(room_id, "a")
    first = await send_ok(alice, room_id, edit_of(original, "b"))
    second = await send_ok(alice, room_id, edit_of(original, "c"))
    await alice.ok("PUT", f"/rooms/{room_id}/redact/{second}/r1", {})
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{original}")
    assert event["unsigned"]["m.relations"]["m.replace"]["event_id"] == first
    await alice.ok("PUT", f"/rooms/{room_id}/redact/{first}/r2", {})
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{original}")
    assert "m.relations" not in event["unsigned"]
    assert (await relations(alice, room_id, original))["chunk"] == []


async def test_redacted_original_gets_no_edit(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    original = await alice.send(room_id, "a")
    await send_ok(alice, room_id, edit_of(original, "b"))
    await alice.ok("PUT", f"/rooms/{room_id}/redact/{original}/r1", {})
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{original}")
    assert event["content"] == {}
    assert "m.relations" not in event["unsigned"]


# --- annotations and references -------------------------------------------------------


async def test_duplicate_reaction_is_refused(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    root = await alice.send(room_id, "react to me")
    first = await send_ok(alice, room_id, reaction(root, "👍"), "m.reaction")
    status, body = await send(alice, room_id, reaction(root, "👍"), "m.reaction")
    assert status == 400
    assert body["errcode"] == "M_DUPLICATE_ANNOTATION"
    await send_ok(alice, room_id, reaction(root, "🎉"), "m.reaction")
    await send_ok(bob, room_id, reaction(root, "👍"), "m.reaction")
    await alice.ok("PUT", f"/rooms/{room_id}/redact/{first}/r", {})
    await send_ok(alice, room_id, reaction(root, "👍"), "m.reaction")


async def test_reaction_without_key_is_refused(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    root = await alice.send(room_id, "x")
    content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": root}}
    status, body = await send(alice, room_id, content, "m.reaction")
    assert status == 400
    assert body["errcode"] == "M_BAD_JSON"
    status, body = await send(alice, room_id, reaction(root, "k" * 501), "m.reaction")
    assert status == 400


async def test_references_are_bundled(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    root = await alice.send(room_id, "root")
    refs = [await send_ok(alice, room_id, related("m.reference", root)) for _ in range(2)]
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{root}")
    chunk = event["unsigned"]["m.relations"]["m.reference"]["chunk"]
    assert chunk == [{"event_id": refs[0]}, {"event_id": refs[1]}]
    await alice.ok("PUT", f"/rooms/{room_id}/redact/{refs[0]}/r", {})
    event = await alice.ok("GET", f"/rooms/{room_id}/event/{root}")
    assert event["unsigned"]["m.relations"]["m.reference"]["chunk"] == [{"event_id": refs[1]}]


async def test_relation_to_unknown_or_foreign_event_is_refused(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await send(alice, room_id, related("m.reference", "$unknown:test.local"))
    assert status == 400
    assert "errcode" in body
    other = await alice.create_room()
    foreign = await alice.send(other, "elsewhere")
    status, _ = await send(alice, room_id, related("m.reference", foreign))
    assert status == 400


# --- never a 500 ----------------------------------------------------------------------

FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
params = st.dictionaries(
    st.sampled_from(["from", "to", "dir", "limit", "recurse"]) | st.text(max_size=5),
    st.text(max_size=12) | st.sampled_from(["b", "f", "true", "t1-1", "s0", "-1", "0"]),
    max_size=5,
)
segments = st.sampled_from(["", "/m.reference", "/m.thread/m.room.message"]) | st.text(
    min_size=1, max_size=10
).map(lambda s: "/" + quote(s, safe=""))


@FUZZ
@given(query=params, tail=segments)
@example(query={"from": "t99999999999999999999-1"}, tail="")
@example(query={"limit": "99999999999999999999999"}, tail="")
@example(query={}, tail="/%00")
async def test_relations_random_params_never_500(
    client: Client, query: dict[str, str], tail: str
) -> None:
    if not hasattr(client, "_rel_fuzz"):
        user = await new_user(client, "fuzzer")
        room_id = await user.create_room()
        root = await user.send(room_id, "root")
        await send_ok(user, room_id, related("m.thread", root))
        client._rel_fuzz = (user, room_id, root)  # type: ignore[attr-defined]
    user, room_id, root = client._rel_fuzz  # type: ignore[attr-defined]
    status, body = await relations_request(user, room_id, root, tail, **query)
    assert status < 500
    if status >= 400:
        assert isinstance(body["errcode"], str)
        assert isinstance(body["error"], str)
