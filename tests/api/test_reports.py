"""POST /rooms/{roomId}/report/{eventId} and POST /rooms/{roomId}/report."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import services_of
from tests.api.rooms_helpers import V3, User, new_user

Client = TestClient[Any, Any]


async def test_report_event_is_stored(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    event_id = await alice.send(room_id, "rude")
    assert (
        await bob.ok(
            "POST", f"/rooms/{room_id}/report/{event_id}", {"reason": "rude", "score": -100}
        )
        == {}
    )
    reports = await services_of(client).reports.reports()
    assert len(reports) == 1
    report = reports[0]
    assert (report.room_id, report.event_id, report.user_id) == (room_id, event_id, bob.user_id)
    assert (report.reason, report.score) == ("rude", -100)


async def test_report_event_without_reason(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    event_id = await alice.send(room_id)
    assert await alice.ok("POST", f"/rooms/{room_id}/report/{event_id}", {}) == {}


async def test_report_unknown_event_is_404(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    unknown = "$" + "A" * 43
    status, body = await alice.request(
        "POST", f"/rooms/{room_id}/report/{unknown}", {"reason": "x"}
    )
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_report_event_of_other_room_is_404(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    other = await alice.create_room()
    event_id = await alice.send(other)
    status, body = await alice.request("POST", f"/rooms/{room_id}/report/{event_id}", {})
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_report_event_not_visible_is_404(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await alice.put_state(room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    hidden = await alice.send(room_id, "before bob")
    status, body = await bob.request("POST", f"/rooms/{room_id}/report/{hidden}", {})
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    await bob.join(room_id)
    status, body = await bob.request("POST", f"/rooms/{room_id}/report/{hidden}", {})
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    assert await services_of(client).reports.reports() == []


async def test_report_bad_score_is_400(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    event_id = await alice.send(room_id)
    status, body = await alice.request("POST", f"/rooms/{room_id}/report/{event_id}", {"score": 5})
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")
    status, body = await alice.request(
        "POST", f"/rooms/{room_id}/report/{event_id}", {"score": "bad"}
    )
    assert (status, body["errcode"]) == (400, "M_BAD_JSON")


async def test_report_room_by_non_member(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    assert await bob.ok("POST", f"/rooms/{room_id}/report", {"reason": ""}) == {}
    reports = await services_of(client).reports.reports()
    assert [(r.room_id, r.event_id, r.user_id) for r in reports] == [(room_id, None, bob.user_id)]


async def test_report_room_unknown_is_404_and_reason_required(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await alice.request("POST", "/rooms/!nope:test.local/report", {"reason": "x"})
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    status, body = await alice.request("POST", f"/rooms/{room_id}/report", {})
    assert (status, body["errcode"]) == (400, "M_MISSING_PARAM")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(st.sampled_from(["reason", "score"]), json_values, max_size=2)
    | json_values,
    of_event=st.booleans(),
)
async def test_report_random_bodies_never_500(client: Client, body: Any, of_event: bool) -> None:
    if not hasattr(client, "_fuzz_user"):
        user = await new_user(client, "fuzzer")
        room = await user.create_room()
        client._fuzz_user = user  # type: ignore[attr-defined]
        client._fuzz_path = (  # type: ignore[attr-defined]
            f"/rooms/{room}/report",
            f"/rooms/{room}/report/{await user.send(room)}",
        )
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    path = client._fuzz_path[1 if of_event else 0]  # type: ignore[attr-defined]
    resp = await client.post(V3 + path, data=json.dumps(body).encode(), headers=user.headers)
    assert resp.status < 500
    if resp.status >= 400:
        assert isinstance((await resp.json())["errcode"], str)
