"""POST /search: room events in any language, on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.rooms_helpers import User, new_user, shared_room

Client = TestClient[Any, Any]


async def search(user: User, term: str, next_batch: str | None = None, **criteria: Any) -> Any:
    """The ``room_events`` result of a search (asserting a 200)."""
    body = {"search_categories": {"room_events": {"search_term": term, **criteria}}}
    params = {"next_batch": next_batch} if next_batch is not None else {}
    data = await user.ok("POST", "/search", body, params=params)
    return data["search_categories"]["room_events"]


def ids(result: Any) -> list[str]:
    return [r["result"]["event_id"] for r in result["results"]]


async def test_search_english_keyword_finds_message(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    wanted = await alice.send(room_id, "Let's review the Budget tomorrow")
    await alice.send(room_id, "lunch at noon?")
    result = await search(alice, "budget")
    assert ids(result) == [wanted]
    assert result["count"] == 1
    assert "Budget" in result["highlights"]
    hit = result["results"][0]
    assert hit["rank"] > 0
    assert hit["result"]["room_id"] == room_id
    assert hit["result"]["content"]["body"] == "Let's review the Budget tomorrow"
    assert "next_batch" not in result


async def test_search_chinese_found_by_bigrams_not_by_other_words(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    wanted = await alice.send(room_id, "我们明天开会讨论预算")
    await alice.send(room_id, "今天天气很好")
    assert ids(await search(alice, "开会")) == [wanted]
    assert ids(await search(alice, "预算")) == [wanted]
    assert ids(await search(alice, "会议室")) == []
    assert (await search(alice, "开会"))["highlights"] == ["开会"]


async def test_search_japanese_and_korean_found_inside_sentences(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    japanese = await alice.send(room_id, "明日の会議は午後三時です")
    korean = await alice.send(room_id, "내일 회의는 오후 세 시입니다")
    assert ids(await search(alice, "会議")) == [japanese]
    assert ids(await search(alice, "회의")) == [korean]
    assert ids(await search(alice, "午後 三時")) == [japanese]


async def test_search_mixed_scripts_need_every_word(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    mixed = await alice.send(room_id, "Q3预算review: 会議 at 3pm")
    await alice.send(room_id, "Q3 review only")
    assert ids(await search(alice, "预算 review")) == [mixed]
    assert set(ids(await search(alice, "review"))) == {mixed, *ids(await search(alice, "only"))}
    assert ids(await search(alice, "预算 nothing")) == []


async def test_search_room_name_and_topic_by_key(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="财务部 Finance", topic="季度预算 planning")
    await alice.send(room_id, "Finance planning 预算")
    by_key = {
        key: await search(alice, "预算", keys=[key])
        for key in ("content.body", "content.name", "content.topic")
    }
    assert [r["result"]["type"] for r in by_key["content.topic"]["results"]] == ["m.room.topic"]
    assert [r["result"]["type"] for r in by_key["content.body"]["results"]] == ["m.room.message"]
    assert by_key["content.name"]["results"] == []
    names = await search(alice, "财务", keys=["content.name"])
    assert [r["result"]["type"] for r in names["results"]] == ["m.room.name"]
    assert len((await search(alice, "预算"))["results"]) == 2


async def test_search_order_recent_is_newest_first_and_rank_prefers_dense(
    client: Client,
) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    dense = await alice.send(room_id, "budget")
    sparse = await alice.send(room_id, "we should talk about the budget at some point soon")
    recent = await search(alice, "budget", order_by="recent")
    assert ids(recent) == [sparse, dense]
    ranked = await search(alice, "budget", order_by="rank")
    assert ids(ranked) == [dense, sparse]
    assert ranked["results"][0]["rank"] > ranked["results"][1]["rank"]


async def test_search_filter_by_room_and_sender(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    first = await alice.create_room(preset="public_chat")
    second = await alice.create_room(preset="public_chat")
    await bob.join(first)
    from_alice = await alice.send(first, "deploy 部署")
    from_bob = await bob.send(first, "deploy 部署 done")
    elsewhere = await alice.send(second, "deploy 部署 too")
    assert set(ids(await search(alice, "部署"))) == {from_alice, from_bob, elsewhere}
    in_first = await search(alice, "部署", filter={"rooms": [first]})
    assert set(ids(in_first)) == {from_alice, from_bob}
    not_first = await search(alice, "deploy", filter={"not_rooms": [first]})
    assert ids(not_first) == [elsewhere]
    by_bob = await search(alice, "deploy", filter={"senders": [bob.user_id]})
    assert ids(by_bob) == [from_bob]
    not_bob = await search(alice, "deploy", filter={"not_senders": [bob.user_id]})
    assert set(ids(not_bob)) == {from_alice, elsewhere}
    no_messages = await search(alice, "deploy", filter={"not_types": ["m.room.*"]})
    assert ids(no_messages) == []


async def test_search_paginates_with_next_batch(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    sent = [await alice.send(room_id, f"report 报告 number {i}") for i in range(7)]
    for order in ("recent", "rank"):
        seen: list[str] = []
        token = None
        for _ in range(10):
            page = await search(alice, "报告", token, order_by=order, filter={"limit": 3})
            assert len(page["results"]) <= 3
            assert page["count"] == 7
            seen.extend(ids(page))
            token = page.get("next_batch")
            if token is None:
                break
        assert sorted(seen) == sorted(sent)
        assert len(seen) == len(set(seen))
    recent = await search(alice, "报告", order_by="recent", filter={"limit": 3})
    assert ids(recent) == sent[::-1][:3]


async def test_search_event_context_with_profiles(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await alice.ok("PUT", f"/profile/{alice.user_id}/displayname", {"displayname": "Alice"})
    before = await bob.send(room_id, "before")
    target = await alice.send(room_id, "the 目标 message")
    after = await bob.send(room_id, "after")
    result = await search(
        alice,
        "目标",
        event_context={"before_limit": 1, "after_limit": 1, "include_profile": True},
    )
    context = result["results"][0]["context"]
    assert [e["event_id"] for e in context["events_before"]] == [before]
    assert [e["event_id"] for e in context["events_after"]] == [after]
    assert isinstance(context["start"], str)
    assert isinstance(context["end"], str)
    assert context["profile_info"][bob.user_id]["displayname"] == "bob"
    assert context["profile_info"][alice.user_id]["displayname"] == "Alice"
    messages = await alice.ok(
        "GET", f"/rooms/{room_id}/messages", params={"from": context["end"], "dir": "f"}
    )
    assert target not in [e["event_id"] for e in messages["chunk"]]


async def test_search_groups_by_room_and_sender(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    first = await alice.create_room(preset="public_chat")
    second = await alice.create_room()
    await bob.join(first)
    a1 = await alice.send(first, "invoice 发票")
    b1 = await bob.send(first, "invoice 发票 paid")
    a2 = await alice.send(second, "invoice 发票 again")
    result = await search(
        alice,
        "发票",
        order_by="recent",
        groupings={"group_by": [{"key": "room_id"}, {"key": "sender"}]},
    )
    rooms = result["groups"]["room_id"]
    assert rooms[first]["results"] == [b1, a1]
    assert rooms[second]["results"] == [a2]
    assert rooms[second]["order"] == 1
    assert rooms[first]["order"] == 2
    senders = result["groups"]["sender"]
    assert senders[alice.user_id]["results"] == [a2, a1]
    assert senders[bob.user_id]["results"] == [b1]


async def test_search_include_state_gives_room_state(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="状态")
    await alice.send(room_id, "state 检查")
    result = await search(alice, "检查", include_state=True)
    types = {e["type"] for e in result["state"][room_id]}
    assert {"m.room.create", "m.room.name", "m.room.member"} <= types
    assert "state" not in await search(alice, "检查")


async def test_search_history_visibility_hides_messages_before_join(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    status, _ = await alice.put_state(
        room_id, "m.room.history_visibility", {"history_visibility": "joined"}
    )
    assert status == 200
    early = await alice.send(room_id, "秘密 plan early")
    await bob.join(room_id)
    late = await alice.send(room_id, "秘密 plan late")
    assert set(ids(await search(alice, "秘密"))) == {early, late}
    assert ids(await search(bob, "秘密")) == [late]


async def test_search_never_finds_rooms_the_user_was_not_in(client: Client) -> None:
    alice = await new_user(client, "alice")
    eve = await new_user(client, "eve")
    room_id = await alice.create_room(preset="public_chat")
    await alice.send(room_id, "private 私人 words")
    assert ids(await search(eve, "私人")) == []
    assert (await search(eve, "私人"))["count"] == 0


async def test_search_left_user_finds_history_up_to_leaving(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    seen = await alice.send(room_id, "会议 before leaving")
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    await alice.send(room_id, "会议 after leaving")
    assert ids(await search(bob, "会议")) == [seen]


async def test_search_does_not_find_redacted_events(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    kept = await alice.send(room_id, "密码 is in the vault")
    leaked = await alice.send(room_id, "密码 is hunter2")
    await alice.ok("PUT", f"/rooms/{room_id}/redact/{leaked}/r1", {})
    result = await search(alice, "密码")
    assert ids(result) == [kept]
    assert result["count"] == 1
    assert ids(await search(alice, "hunter2")) == []


async def test_search_empty_or_punctuation_term_finds_nothing(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await alice.send(room_id, "anything")
    for term in ("", " ,.!? "):
        result = await search(alice, term)
        assert result["results"] == []
        assert result["count"] == 0


async def test_search_without_categories_returns_none(client: Client) -> None:
    alice = await new_user(client, "alice")
    data = await alice.ok("POST", "/search", {"search_categories": {}})
    assert data == {"search_categories": {}}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"search_categories": []},
        {"search_categories": {"room_events": {}}},
        {"search_categories": {"room_events": {"search_term": 5}}},
        {"search_categories": {"room_events": {"search_term": "x", "keys": ["content.url"]}}},
        {"search_categories": {"room_events": {"search_term": "x", "order_by": "best"}}},
        {"search_categories": {"room_events": {"search_term": "x", "filter": {"limit": 0}}}},
        {"search_categories": {"room_events": {"search_term": "x", "filter": {"rooms": "!a"}}}},
        {
            "search_categories": {
                "room_events": {"search_term": "x", "event_context": {"before_limit": -1}}
            }
        },
        {
            "search_categories": {
                "room_events": {"search_term": "x", "groupings": {"group_by": [{"key": "type"}]}}
            }
        },
        {"search_categories": {"room_events": {"search_term": "x"}, "people": {}}},
        {
            "search_categories": {
                "room_events": {"search_term": "x", "filter": {"senders": ["@a:b"] * 1001}}
            }
        },
        {"search_categories": {"room_events": {"search_term": " ".join(map(str, range(300)))}}},
    ],
)
async def test_search_invalid_body_is_bad_json(client: Client, body: Any) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request("POST", "/search", body)
    assert status == 400, data
    assert data["errcode"] == "M_BAD_JSON"


async def test_search_foreign_next_batch_is_invalid_param(client: Client) -> None:
    alice = await new_user(client, "alice")
    body = {"search_categories": {"room_events": {"search_term": "x", "order_by": "rank"}}}
    for token in ("garbage", "recent_0_5", "rank_-1_2", "rank_\u00b2_1", "rank_1_" + "9" * 30):
        status, data = await alice.request("POST", "/search", body, params={"next_batch": token})
        assert status == 400, (token, data)
        assert data["errcode"] == "M_INVALID_PARAM"


async def test_search_requires_access_token(client: Client) -> None:
    resp = await client.post("/_matrix/client/v3/search", json={"search_categories": {}})
    assert resp.status == 401
    assert (await resp.json())["errcode"] == "M_MISSING_TOKEN"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
criteria_keys = st.sampled_from(
    [
        "search_term",
        "keys",
        "filter",
        "order_by",
        "event_context",
        "include_state",
        "groupings",
    ]
)
criteria = st.dictionaries(criteria_keys, json_values, max_size=5) | st.fixed_dictionaries(
    {"search_term": st.text(max_size=40)},
    optional={
        "order_by": st.sampled_from(["rank", "recent"]),
        "filter": st.fixed_dictionaries(
            {}, optional={"limit": st.integers(-2, 200), "rooms": json_values}
        ),
        "event_context": st.dictionaries(
            st.sampled_from(["before_limit", "after_limit", "include_profile"]), json_values
        ),
        "groupings": st.fixed_dictionaries({"group_by": json_values}),
        "include_state": json_values,
    },
)
bodies = st.builds(lambda c: {"search_categories": {"room_events": c}}, criteria) | json_values
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
async def searcher(client: Client) -> User:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="随机 room")
    for body in ("随机 random text", "会議 meeting 회의", "x"):
        await alice.send(room_id, body)
    return alice


@FUZZ
@given(body=bodies, next_batch=st.none() | st.text(max_size=20) | st.just("rank_5_1"))
async def test_search_random_bodies_never_500(
    searcher: User, body: Any, next_batch: str | None
) -> None:
    params = {"next_batch": next_batch} if next_batch is not None else {}
    resp = await searcher.client.post(
        "/_matrix/client/v3/search",
        data=json.dumps(body).encode(),
        headers=searcher.headers,
        params=params,
    )
    assert resp.status in (200, 400), await resp.text()
    data = await resp.json()
    if resp.status == 400:
        assert isinstance(data["errcode"], str)
        assert isinstance(data["error"], str)
    else:
        assert isinstance(data["search_categories"], dict)


@FUZZ
@given(term=st.text(max_size=30))
async def test_search_random_terms_never_500(searcher: User, term: str) -> None:
    if "\x00" in term:
        # NUL is refused in any JSON string of a request body.
        status, data = await searcher.request(
            "POST", "/search", {"search_categories": {"room_events": {"search_term": term}}}
        )
        assert (status, data["errcode"]) == (400, "M_BAD_JSON")
        return
    result = await search(searcher, term)
    assert result["count"] >= len(result["results"])


async def test_search_full_pages_have_next_batch_until_an_empty_one(client: Client) -> None:
    # Complement's "Can back-paginate search results": 20 hits, pages of 10.
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    sent = [await alice.send(room_id, f"Message number {i}") for i in range(20)]
    criteria: dict[str, Any] = {"order_by": "recent", "filter": {"limit": 10, "rooms": [room_id]}}
    first = await search(alice, "Message", **criteria)
    assert (first["count"], ids(first)) == (20, sent[::-1][:10])
    second = await search(alice, "Message", first["next_batch"], **criteria)
    assert (second["count"], ids(second)) == (20, sent[::-1][10:])
    third = await search(alice, "Message", second["next_batch"], **criteria)
    assert (third["count"], third["results"]) == (20, [])
    assert "next_batch" not in third
    # A single hit filling a page of one also has a next_batch.
    one = await search(alice, "number 4", filter={"limit": 1, "rooms": [room_id]})
    assert ids(one) == [sent[4]]
    assert "next_batch" in one


async def test_search_count_leaves_out_what_came_after_leaving(client: Client) -> None:
    alice, bob, room_id = await shared_room(client)
    seen = await alice.send(room_id, "会议 before leaving")
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    for i in range(3):
        await alice.send(room_id, f"会议 after leaving {i}")
    result = await search(bob, "会议")
    assert (ids(result), result["count"]) == ([seen], 1)
    # Forgotten: nothing at all.
    await bob.ok("POST", f"/rooms/{room_id}/forget", {})
    result = await search(bob, "会议")
    assert (ids(result), result["count"]) == ([], 0)
    # Back in the room, the history is searchable again.
    await bob.join(room_id)
    assert (await search(bob, "会议"))["count"] == 4
