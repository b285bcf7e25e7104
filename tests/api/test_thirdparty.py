"""Third-party lookups: /thirdparty/*."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeserver.services.thirdparty import Protocol
from tests.api.helpers import services_of
from tests.api.rooms_helpers import User, new_user

Client = TestClient[Any, Any]


async def test_protocols_empty_without_bridges(client: Client) -> None:
    alice = await new_user(client, "alice")
    assert await alice.ok("GET", "/thirdparty/protocols") == {}


async def test_unknown_protocol_not_found(client: Client) -> None:
    alice = await new_user(client, "alice")
    for path in ("/thirdparty/protocol/irc", "/thirdparty/location/irc", "/thirdparty/user/irc"):
        status, body = await alice.request("GET", path)
        assert (status, body["errcode"]) == (404, "M_NOT_FOUND"), path


async def test_reverse_lookups_empty_without_bridges(client: Client) -> None:
    alice = await new_user(client, "alice")
    assert await alice.ok("GET", "/thirdparty/location?alias=%23a:test.local") == []
    assert await alice.ok("GET", "/thirdparty/user?userid=@a:test.local") == []


async def test_reverse_lookups_need_param(client: Client) -> None:
    alice = await new_user(client, "alice")
    for path in ("/thirdparty/location", "/thirdparty/user"):
        status, body = await alice.request("GET", path)
        assert (status, body["errcode"]) == (400, "M_MISSING_PARAM"), path


async def test_registered_protocol_is_served(client: Client) -> None:
    async def users(protocol: str, fields: Mapping[str, str]) -> list[dict[str, Any]]:
        return [{"userid": "@irc_x:test.local", "protocol": protocol, "fields": dict(fields)}]

    description = {"user_fields": ["nick"], "location_fields": [], "icon": "mxc://a/b"}
    services_of(client).thirdparty.register(Protocol("irc", description, lookup_users=users))
    alice = await new_user(client, "alice")
    assert await alice.ok("GET", "/thirdparty/protocols") == {"irc": description}
    assert await alice.ok("GET", "/thirdparty/protocol/irc") == description
    assert await alice.ok("GET", "/thirdparty/location/irc") == []
    found = await alice.ok("GET", "/thirdparty/user/irc?nick=x")
    assert found == [{"userid": "@irc_x:test.local", "protocol": "irc", "fields": {"nick": "x"}}]


async def test_thirdparty_requires_token(client: Client) -> None:
    resp = await client.get("/_matrix/client/v3/thirdparty/protocols")
    assert resp.status == 401


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["location", "user"]),
    protocol=st.text(min_size=1, max_size=10).filter(lambda t: t not in (".", "..")),
    value=st.text(max_size=10),
)
async def test_thirdparty_random_params_never_500(
    client: Client, kind: str, protocol: str, value: str
) -> None:
    if not hasattr(client, "_fuzz_user"):
        client._fuzz_user = await new_user(client, "fuzzer")  # type: ignore[attr-defined]
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    resp = await client.get(
        f"/_matrix/client/v3/thirdparty/{kind}/{quote(protocol, safe='')}",
        params={"q": value},
        headers=user.headers,
    )
    assert resp.status < 500
    if resp.status >= 400:
        assert isinstance((await resp.json())["errcode"], str)
