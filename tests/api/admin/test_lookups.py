"""Admin API: fetch_event, an event's context, room reports, and the
lookups that never find anything here (third-party ids, SSO ids,
federation destinations)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.admin.admin_helpers import A1, Admin, Client, new_admin
from tests.api.rooms_helpers import new_user


async def test_fetch_event_any_room_without_membership(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_id = await bob.create_room(name="Private", preset="private_chat")
    event_id = await bob.send(room_id, "secret")
    data = await admin.ok("GET", f"{A1}/fetch_event/{event_id}")
    assert data["event"]["event_id"] == event_id
    assert data["event"]["content"]["body"] == "secret"
    assert data["event"]["room_id"] == room_id


async def test_fetch_event_unknown_or_malformed(client: Client) -> None:
    admin = await new_admin(client)
    status, data = await admin.request("GET", f"{A1}/fetch_event/${'A' * 43}")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")
    status, data = await admin.request("GET", f"{A1}/fetch_event/notanid")
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


async def test_context_ignores_history_visibility(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_id = await bob.create_room(name="Hidden", preset="private_chat")
    await bob.put_state(room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    first = await bob.send(room_id, "one")
    middle = await bob.send(room_id, "two")
    last = await bob.send(room_id, "three")
    data = await admin.ok("GET", f"{A1}/rooms/{room_id}/context/{middle}?limit=2")
    assert data["event"]["event_id"] == middle
    assert [e["event_id"] for e in data["events_before"]] == [first]
    assert [e["event_id"] for e in data["events_after"]] == [last]
    state_types = {e["type"] for e in data["state"]}
    assert {"m.room.create", "m.room.history_visibility"} <= state_types
    # The tokens continue through the admin /messages endpoint.
    older = await admin.ok(
        "GET", f"{A1}/rooms/{room_id}/messages?dir=b&limit=1&from={data['start']}"
    )
    assert older["chunk"][0]["event_id"] != first
    newer = await admin.ok("GET", f"{A1}/rooms/{room_id}/messages?dir=f&from={data['end']}")
    assert newer["chunk"] == []


async def test_context_filter_and_lazy_members(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await bob.create_room(preset="public_chat")
    await carol.join(room_id)
    target = await bob.send(room_id, "x")
    await bob.send(room_id, "y", event_type="m.custom")
    flt = quote(json.dumps({"types": ["m.room.message"], "lazy_load_members": True}))
    data = await admin.ok("GET", f"{A1}/rooms/{room_id}/context/{target}?limit=10&filter={flt}")
    assert data["events_after"] == []
    assert all(e["type"] == "m.room.message" for e in data["events_before"])
    members = [e["state_key"] for e in data["state"] if e["type"] == "m.room.member"]
    assert members == [bob.user_id]


async def test_context_wrong_room_or_bad_params(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    room_a = await bob.create_room()
    room_b = await bob.create_room()
    event_id = await bob.send(room_a, "x")
    status, data = await admin.request("GET", f"{A1}/rooms/{room_b}/context/{event_id}")
    assert (status, data["errcode"]) == (404, "M_NOT_FOUND")
    status, data = await admin.request("GET", f"{A1}/rooms/nope/context/{event_id}")
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")
    status, data = await admin.request("GET", f"{A1}/rooms/{room_a}/context/{event_id}?limit=x")
    assert status == 400
    status, data = await admin.request(
        "GET", f"{A1}/rooms/{room_a}/context/{event_id}?filter=notjson"
    )
    assert status == 400


async def test_room_reports_list_filter_and_page(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_a = await bob.create_room(name="Reported")
    room_b = await bob.create_room()
    event_id = await bob.send(room_a, "x")
    await bob.ok("POST", f"/rooms/{room_a}/report/{event_id}", {"reason": "event"})
    await bob.ok("POST", f"/rooms/{room_a}/report", {"reason": "spam room"})
    await carol.ok("POST", f"/rooms/{room_b}/report", {"reason": "also"})
    data = await admin.ok("GET", f"{A1}/room_reports")
    assert data["total"] == 2
    assert [r["reason"] for r in data["room_reports"]] == ["also", "spam room"]
    spam = data["room_reports"][1]
    assert (spam["room_id"], spam["user_id"], spam["name"]) == (room_a, bob.user_id, "Reported")
    assert set(spam) == {
        "id",
        "received_ts",
        "room_id",
        "name",
        "canonical_alias",
        "user_id",
        "reason",
    }
    page = await admin.ok("GET", f"{A1}/room_reports?limit=1&dir=f")
    assert [r["reason"] for r in page["room_reports"]] == ["spam room"]
    assert page["next_token"] == 1
    by_carol = await admin.ok("GET", f"{A1}/room_reports?user_id={quote(carol.user_id)}")
    assert [r["room_id"] for r in by_carol["room_reports"]] == [room_b]
    # The event report stays out of the room report list.
    events = await admin.ok("GET", f"{A1}/event_reports")
    assert [r["reason"] for r in events["event_reports"]] == ["event"]
    status, data = await admin.request("GET", f"{A1}/room_reports?dir=x")
    assert (status, data["errcode"]) == (400, "M_INVALID_PARAM")


async def test_lookups_find_nothing(client: Client) -> None:
    admin = await new_admin(client)
    await new_user(client, "bob")
    for method, path in [
        ("GET", f"{A1}/threepid/email/users/bob%40example.org"),
        ("GET", f"{A1}/auth_providers/oidc/users/bob"),
        ("GET", f"{A1}/federation/destinations/other.example/rooms"),
        ("POST", f"{A1}/federation/destinations/other.example/reset_connection"),
    ]:
        status, data = await admin.request(method, path, {} if method == "POST" else None)
        assert (status, data["errcode"]) == (404, "M_NOT_FOUND"), path


_ADMINS: dict[int, tuple[Admin, str, str]] = {}
_text = st.text(max_size=20)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.sampled_from(["context", "fetch", "reports"]),
    event_id=_text,
    params=st.dictionaries(
        st.sampled_from(["limit", "filter", "from", "dir", "user_id", "room_id"]),
        _text | st.integers(-5, 10**12).map(str),
        max_size=4,
    ),
)
async def test_random_params_never_500(
    client: Client, which: str, event_id: str, params: dict[str, Any]
) -> None:
    known = _ADMINS.get(id(client))
    if known is None:
        admin = await new_admin(client)
        bob = await new_user(client, "bob")
        room_id = await bob.create_room()
        known = (admin, room_id, await bob.send(room_id, "x"))
        _ADMINS[id(client)] = known
    admin, room_id, real_event = known
    target = quote(event_id or real_event, safe="")
    path = {
        "context": f"{A1}/rooms/{room_id}/context/{target}",
        "fetch": f"{A1}/fetch_event/{target}",
        "reports": f"{A1}/room_reports",
    }[which]
    resp = await client.get(path, params=params, headers={"Authorization": f"Bearer {admin.token}"})
    assert resp.status < 500, (path, params)
    if resp.status >= 400:
        data = await resp.json()
        assert isinstance(data["errcode"], str)
        assert isinstance(data["error"], str)
