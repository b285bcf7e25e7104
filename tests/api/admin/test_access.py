"""Every admin route refuses non-admins with 403 M_FORBIDDEN, and random
bodies never make an admin route answer 500."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeserver.api.routing import Auth, all_routes
from tests.api.admin.admin_helpers import Client, new_admin
from tests.api.helpers import auth_header, register_user

ADMIN_ROUTES = [r for r in all_routes() if r.auth is Auth.ADMIN]
_VALUES = {"userId": "@bob:test.local", "roomId": "!room:test.local"}


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _VALUES.get(m.group(1), "x"), path)


def test_admin_route_count_meets_target() -> None:
    assert len(ADMIN_ROUTES) >= 60


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=[f"{r.method} {r.path}" for r in ADMIN_ROUTES])
async def test_admin_route_non_admin_forbidden(client: Client, route: Any) -> None:
    bob = await register_user(client, "bob")
    resp = await client.request(
        route.method, _concrete(route.path), json={}, headers=auth_header(bob["access_token"])
    )
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
known_keys = st.sampled_from(
    [
        "password",
        "admin",
        "deactivated",
        "displayname",
        "erase",
        "new_password",
        "devices",
        "device_id",
        "block",
        "purge",
        "new_room_user_id",
        "user_id",
        "content",
        "token",
        "uses_allowed",
        "expiry_time",
        "length",
        "valid_until_ms",
        "messages_per_second",
        "locked",
        "suspended",
        "purge_up_to_ts",
    ]
)
bodies = st.dictionaries(known_keys, json_values, max_size=4) | json_values
#: The admin of each test client, made on the first example.
_ADMINS: dict[int, Any] = {}
_MUTATING = [r for r in ADMIN_ROUTES if r.method in ("POST", "PUT")]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(index=st.integers(0, len(_MUTATING) - 1), body=bodies, query=st.text(max_size=10))
async def test_admin_random_bodies_never_500(
    client: Client, index: int, body: Any, query: str
) -> None:
    admin = _ADMINS.get(id(client))
    if admin is None:
        admin = await new_admin(client)
        await register_user(client, "bob")
        _ADMINS[id(client)] = admin
    route = _MUTATING[index]
    resp = await client.request(
        route.method,
        _concrete(route.path),
        params={"from": query, "limit": query, "ts": query},
        data=json.dumps(body),
        headers=auth_header(admin.token),
    )
    assert resp.status < 500, (route.path, body)
    if resp.status >= 400:
        data = await resp.json()
        assert isinstance(data["errcode"], str)
        assert isinstance(data["error"], str)
