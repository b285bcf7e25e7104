"""Push rules API: CRUD, ordering, server-default rules and errors."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import User, new_user

RULES = "/pushrules/global"


async def _ids(user: User, kind: str) -> list[str]:
    data = await user.ok("GET", f"{RULES}/")
    return [r["rule_id"] for r in data[kind]]


async def test_get_push_rules_returns_defaults_for_new_user(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    data = await alice.ok("GET", "/pushrules/")
    ruleset = data["global"]
    assert set(ruleset) == {"override", "content", "postcontent", "room", "sender", "underride"}
    assert ruleset["postcontent"] == []
    assert ruleset["override"][0]["rule_id"] == ".m.rule.master"
    assert ruleset["override"][0]["enabled"] is False
    mention = next(r for r in ruleset["override"] if r["rule_id"] == ".m.rule.is_user_mention")
    assert mention["conditions"][0]["value"] == alice.user_id
    assert ruleset["content"][0]["pattern"] == "alice"
    assert [r["rule_id"] for r in ruleset["underride"]][-1] == ".m.rule.encrypted"
    assert await alice.ok("GET", f"{RULES}/") == ruleset


async def test_put_rule_creates_enabled_rule_first_of_its_kind(
    client: TestClient[Any, Any],
) -> None:
    alice = await new_user(client, "alice")
    cake = {"pattern": "cake", "actions": ["notify", {"set_tweak": "sound", "value": "cake.wav"}]}
    await alice.ok("PUT", f"{RULES}/content/nocake", cake)
    rule = await alice.ok("GET", f"{RULES}/content/nocake")
    assert rule == {
        "rule_id": "nocake",
        "default": False,
        "enabled": True,
        "pattern": "cake",
        "actions": cake["actions"],
    }
    await alice.ok("PUT", f"{RULES}/content/second", {"pattern": "pie", "actions": []})
    assert await _ids(alice, "content") == ["second", "nocake", ".m.rule.contains_user_name"]


async def test_put_rule_places_before_and_after(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    body = {"conditions": [{"kind": "event_match", "key": "type", "pattern": "x"}], "actions": []}
    await alice.ok("PUT", f"{RULES}/override/a", body)
    await alice.ok("PUT", f"{RULES}/override/b", body, params={"after": "a"})
    await alice.ok("PUT", f"{RULES}/override/c", body, params={"before": "a"})
    await alice.ok("PUT", f"{RULES}/override/d", body, params={"before": "b", "after": "c"})
    ids = await _ids(alice, "override")
    assert ids[:5] == [".m.rule.master", "c", "a", "d", "b"]
    assert ids[5] == ".m.rule.suppress_notices"
    # Replacing keeps the place unless told otherwise.
    await alice.ok("PUT", f"{RULES}/override/a", {**body, "actions": ["notify"]})
    assert (await _ids(alice, "override"))[1:5] == ["c", "a", "d", "b"]
    await alice.ok("PUT", f"{RULES}/override/a", body, params={"after": "b"})
    assert (await _ids(alice, "override"))[1:5] == ["c", "d", "b", "a"]


async def test_put_rule_rejects_unknown_before_rule(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request(
        "PUT", f"{RULES}/room/!r:test.local", {"actions": []}, params={"before": "nope"}
    )
    assert status == 400
    assert data["errcode"] == "M_UNKNOWN"


async def test_put_rule_rejects_placing_next_to_default_rule(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request(
        "PUT", f"{RULES}/underride/x", {"actions": []}, params={"after": ".m.rule.call"}
    )
    assert status == 400
    assert data["errcode"] == "M_INVALID_PARAM"


async def test_put_rule_rejects_reserved_and_malformed_ids(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    for rule_id in [".m.rule.mine", "a%5Cb"]:
        status, data = await alice.request("PUT", f"{RULES}/override/{rule_id}", {"actions": []})
        assert status == 400, rule_id
        assert data["errcode"] == "M_INVALID_PARAM"


async def test_put_rule_rejects_bad_bodies(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request("PUT", f"{RULES}/override/x", {})
    assert (status, data["errcode"]) == (400, "M_MISSING_PARAM")
    status, data = await alice.request("PUT", f"{RULES}/override/x", {"actions": [1]})
    assert (status, data["errcode"]) == (400, "M_BAD_JSON")
    status, data = await alice.request("PUT", f"{RULES}/content/x", {"actions": []})
    assert (status, data["errcode"]) == (400, "M_MISSING_PARAM")
    status, data = await alice.request(
        "PUT", f"{RULES}/override/x", {"actions": [], "conditions": "nope"}
    )
    assert (status, data["errcode"]) == (400, "M_BAD_JSON")
    status, data = await alice.request("PUT", f"{RULES}/bogus/x", {"actions": []})
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


async def test_get_unknown_rule_is_not_found(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request("GET", f"{RULES}/override/nope")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")
    status, data = await alice.request("GET", f"{RULES}/underride/.m.rule.master")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")


async def test_delete_rule_removes_user_rule(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    await alice.ok("PUT", f"{RULES}/sender/@spam:test.local", {"actions": []})
    assert await _ids(alice, "sender") == ["@spam:test.local"]
    await alice.ok("DELETE", f"{RULES}/sender/@spam:test.local")
    assert await _ids(alice, "sender") == []
    status, data = await alice.request("DELETE", f"{RULES}/sender/@spam:test.local")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")


async def test_delete_default_rule_is_refused(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    status, data = await alice.request("DELETE", f"{RULES}/override/.m.rule.master")
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")
    status, data = await alice.request("DELETE", f"{RULES}/override/.m.rule.nonexistent")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")
    assert ".m.rule.master" in await _ids(alice, "override")


async def test_enabled_and_actions_of_default_rule_can_change(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    path = f"{RULES}/override/.m.rule.master"
    assert await alice.ok("GET", path + "/enabled") == {"enabled": False}
    await alice.ok("PUT", path + "/enabled", {"enabled": True})
    assert await alice.ok("GET", path + "/enabled") == {"enabled": True}
    msg = f"{RULES}/underride/.m.rule.message"
    await alice.ok("PUT", msg + "/actions", {"actions": ["notify", {"set_tweak": "sound"}]})
    assert await alice.ok("GET", msg + "/actions") == {
        "actions": ["notify", {"set_tweak": "sound"}]
    }
    # Each change kept the other.
    assert (await alice.ok("GET", path))["enabled"] is True
    rule = await alice.ok("GET", msg)
    assert rule["default"] is True
    assert rule["enabled"] is True


async def test_enabled_and_actions_of_user_rule_can_change(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    path = f"{RULES}/room/!r:test.local"
    await alice.ok("PUT", path, {"actions": ["notify"]})
    await alice.ok("PUT", path + "/enabled", {"enabled": False})
    await alice.ok("PUT", path + "/actions", {"actions": []})
    assert await alice.ok("GET", path) == {
        "rule_id": "!r:test.local",
        "default": False,
        "enabled": False,
        "actions": [],
    }


async def test_historical_actions_are_read_back_as_written(client: TestClient[Any, Any]) -> None:
    # Spec v1.7 made dont_notify and coalesce no-ops, but clients (and
    # Complement) read back what they wrote, as Synapse returns it.
    alice = await new_user(client, "alice")
    body = {"conditions": [{"kind": "event_match", "key": "type", "pattern": "x"}]}
    await alice.ok("PUT", f"{RULES}/override/quiet", {**body, "actions": ["dont_notify"]})
    assert (await alice.ok("GET", f"{RULES}/override/quiet"))["actions"] == ["dont_notify"]
    path = f"{RULES}/override/quiet/actions"
    await alice.ok("PUT", path, {"actions": ["dont_notify", "coalesce"]})
    assert await alice.ok("GET", path) == {"actions": ["dont_notify", "coalesce"]}
    default = f"{RULES}/underride/.m.rule.message/actions"
    await alice.ok("PUT", default, {"actions": ["dont_notify"]})
    assert await alice.ok("GET", default) == {"actions": ["dont_notify"]}
    data = await alice.ok("GET", "/sync")
    events = {e["type"]: e["content"] for e in data["account_data"]["events"]}
    quiet = next(r for r in events["m.push_rules"]["global"]["override"] if r["rule_id"] == "quiet")
    assert quiet["actions"] == ["dont_notify", "coalesce"]


async def test_enabled_put_validates_body(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    path = f"{RULES}/override/.m.rule.master/enabled"
    status, data = await alice.request("PUT", path, {})
    assert (status, data["errcode"]) == (400, "M_MISSING_PARAM")
    status, data = await alice.request("PUT", path, {"enabled": "yes"})
    assert (status, data["errcode"]) == (400, "M_BAD_JSON")
    status, data = await alice.request("PUT", f"{RULES}/override/nope/enabled", {"enabled": True})
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")
    status, data = await alice.request("PUT", f"{RULES}/override/nope/actions", {"actions": []})
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")


async def test_rules_are_per_user(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    await alice.ok("PUT", f"{RULES}/sender/@x:test.local", {"actions": []})
    assert await _ids(bob, "sender") == []


async def test_rule_change_reaches_sync_account_data(client: TestClient[Any, Any]) -> None:
    alice = await new_user(client, "alice")
    await alice.ok("PUT", f"{RULES}/override/.m.rule.master/enabled", {"enabled": True})
    data = await alice.ok("GET", "/sync")
    events = {e["type"]: e["content"] for e in data["account_data"]["events"]}
    assert events["m.push_rules"]["global"]["override"][0]["enabled"] is True


async def test_postcontent_kind_has_no_rules_and_refuses_user_rules(
    client: TestClient[Any, Any],
) -> None:
    # MSC4306's kind. Thread subscriptions are not implemented, so its default
    # rules are not served (as Synapse with the MSC off): Complement's
    # disableMsc4306PushRules probes them and moves on at a 404.
    alice = await new_user(client, "alice")
    assert await _ids(alice, "postcontent") == []
    for rule_id in (
        ".io.element.msc4306.rule.subscribed_thread",
        ".io.element.msc4306.rule.unsubscribed_thread",
    ):
        path = f"{RULES}/postcontent/{rule_id}"
        status, data = await alice.request("GET", path)
        assert (status, data["errcode"]) == (404, "M_NOT_FOUND")
        status, data = await alice.request("PUT", path + "/enabled", {"enabled": False})
        assert (status, data["errcode"]) == (404, "M_NOT_FOUND")
    body = {"conditions": [], "actions": ["notify"]}
    status, data = await alice.request("PUT", f"{RULES}/postcontent/mine", body)
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")
    assert await _ids(alice, "postcontent") == []
