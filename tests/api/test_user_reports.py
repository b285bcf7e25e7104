"""POST /users/{userId}/report."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.fuzz_helpers import json_values
from tests.api.helpers import services_of
from tests.api.rooms_helpers import V3, User, new_user

Client = TestClient[Any, Any]


async def test_report_user_is_stored(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    assert await alice.ok("POST", f"/users/{bob.user_id}/report", {"reason": "spam"}) == {}
    reports = await services_of(client).user_directory.user_reports()
    assert [(r.target_user_id, r.user_id, r.reason) for r in reports] == [
        (bob.user_id, alice.user_id, "spam")
    ]


async def test_report_user_blank_reason_accepted(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    assert await alice.ok("POST", f"/users/{bob.user_id}/report", {"reason": ""}) == {}


async def test_report_unknown_user_not_found(client: Client) -> None:
    alice = await new_user(client, "alice")
    status, body = await alice.request("POST", "/users/@nobody:test.local/report", {"reason": "x"})
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_report_user_bad_input_rejected(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    status, body = await alice.request("POST", f"/users/{bob.user_id}/report", {})
    assert (status, body["errcode"]) == (400, "M_MISSING_PARAM")
    status, body = await alice.request("POST", f"/users/{bob.user_id}/report", {"reason": 3})
    assert (status, body["errcode"]) == (400, "M_BAD_JSON")
    status, body = await alice.request("POST", "/users/bob/report", {"reason": "x"})
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")
    long = {"reason": "x" * 5000}
    status, body = await alice.request("POST", f"/users/{bob.user_id}/report", long)
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(st.sampled_from(["reason"]), json_values, max_size=1) | json_values)
async def test_report_user_random_bodies_never_500(client: Client, body: Any) -> None:
    if not hasattr(client, "_fuzz_user"):
        client._fuzz_user = await new_user(client, "fuzzer")  # type: ignore[attr-defined]
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    resp = await client.post(
        V3 + f"/users/{user.user_id}/report", data=json.dumps(body).encode(), headers=user.headers
    )
    assert resp.status < 500
    if resp.status >= 400:
        assert isinstance((await resp.json())["errcode"], str)
