"""Room directory: aliases, canonical alias checks, publication, /publicRooms."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.fake_bridge import AS_TOKEN, registration, write_registration
from tests.api.rooms_helpers import V3, User, new_user

Client = TestClient[Any, Any]


def alias_path(alias: str) -> str:
    return "/directory/room/" + quote(alias, safe="")


async def new_admin(client: Client, localpart: str) -> User:
    path = "/_synapse/admin/v1/register"
    nonce = (await (await client.get(path)).json())["nonce"]
    parts = [nonce, localpart, "pw", "admin"]
    mac = hmac.new(b"s3cret", "\x00".join(parts).encode(), hashlib.sha1).hexdigest()
    body = {"nonce": nonce, "username": localpart, "password": "pw", "admin": True, "mac": mac}
    resp = await client.post(path, json=body)
    data = await resp.json()
    assert resp.status == 200, data
    return User(client, data)


# --- aliases ------------------------------------------------------------------


async def test_alias_create_resolve_delete_round_trip(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await alice.ok("PUT", alias_path("#fun:test.local"), {"room_id": room_id})
    found = await alice.ok("GET", alias_path("#fun:test.local"))
    assert found == {"room_id": room_id, "servers": ["test.local"]}
    aliases = await alice.ok("GET", f"/rooms/{room_id}/aliases")
    assert aliases == {"aliases": ["#fun:test.local"]}
    await alice.ok("DELETE", alias_path("#fun:test.local"))
    status, body = await alice.request("GET", alias_path("#fun:test.local"))
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_alias_create_taken_is_409(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(room_alias_name="taken")
    status, body = await alice.request("PUT", alias_path("#taken:test.local"), {"room_id": room_id})
    assert (status, body["errcode"]) == (409, "M_UNKNOWN")


async def test_alias_create_other_server_is_400(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await alice.request("PUT", alias_path("#x:elsewhere"), {"room_id": room_id})
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")


async def test_alias_create_malformed_is_400(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await alice.request("PUT", alias_path("nohash"), {"room_id": room_id})
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")
    status, body = await alice.request("PUT", alias_path("#a:test.local"), {})
    assert (status, body["errcode"]) == (400, "M_MISSING_PARAM")


async def test_alias_create_not_joined_is_forbidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    status, body = await bob.request("PUT", alias_path("#b:test.local"), {"room_id": room_id})
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


async def test_alias_delete_by_unprivileged_member_is_forbidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await alice.ok("PUT", alias_path("#a:test.local"), {"room_id": room_id})
    await bob.join(room_id)
    status, body = await bob.request("DELETE", alias_path("#a:test.local"))
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    # Bob's own alias is his to delete.
    await bob.ok("PUT", alias_path("#b:test.local"), {"room_id": room_id})
    await bob.ok("DELETE", alias_path("#b:test.local"))


async def test_alias_delete_by_room_moderator_and_admin(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    admin = await new_admin(client, "root")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await bob.ok("PUT", alias_path("#b:test.local"), {"room_id": room_id})
    await alice.ok("DELETE", alias_path("#b:test.local"))
    await bob.ok("PUT", alias_path("#c:test.local"), {"room_id": room_id})
    await admin.ok("DELETE", alias_path("#c:test.local"))
    status, _ = await admin.request("DELETE", alias_path("#c:test.local"))
    assert status == 404


async def test_alias_delete_removes_it_from_canonical_alias(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(room_alias_name="main")
    await alice.ok("DELETE", alias_path("#main:test.local"))
    content = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.canonical_alias")
    assert "alias" not in content


async def test_room_aliases_for_non_member_is_forbidden(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room()
    status, body = await bob.request("GET", f"/rooms/{room_id}/aliases")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


async def test_room_aliases_world_readable_for_anyone(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(room_alias_name="open")
    await alice.put_state(
        room_id, "m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    assert await bob.ok("GET", f"/rooms/{room_id}/aliases") == {"aliases": ["#open:test.local"]}


# --- canonical alias validation -----------------------------------------------


async def test_canonical_alias_unknown_alias_is_bad_alias(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await alice.put_state(
        room_id, "m.room.canonical_alias", {"alias": "#nope:test.local"}
    )
    assert (status, body["errcode"]) == (400, "M_BAD_ALIAS")


async def test_canonical_alias_of_other_room_is_bad_alias(client: Client) -> None:
    alice = await new_user(client, "alice")
    await alice.create_room(room_alias_name="other")
    room_id = await alice.create_room()
    status, body = await alice.put_state(
        room_id, "m.room.canonical_alias", {"alt_aliases": ["#other:test.local"]}
    )
    assert (status, body["errcode"]) == (400, "M_BAD_ALIAS")


async def test_canonical_alias_pointing_here_is_accepted(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    await alice.ok("PUT", alias_path("#here:test.local"), {"room_id": room_id})
    status, _ = await alice.put_state(
        room_id,
        "m.room.canonical_alias",
        {"alias": "#here:test.local", "alt_aliases": ["#here:test.local"]},
    )
    assert status == 200


# --- publication ---------------------------------------------------------------


async def test_create_room_public_visibility_publishes(client: Client) -> None:
    alice = await new_user(client, "alice")
    public = await alice.create_room(visibility="public", name="Pub")
    private = await alice.create_room()
    resp = await client.get(f"{V3}/directory/list/room/{public}")
    assert (await resp.json()) == {"visibility": "public"}
    resp = await client.get(f"{V3}/directory/list/room/{private}")
    assert (await resp.json()) == {"visibility": "private"}


async def test_visibility_unknown_room_is_404(client: Client) -> None:
    resp = await client.get(f"{V3}/directory/list/room/!nope:test.local")
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_publish_needs_canonical_alias_power(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    admin = await new_admin(client, "root")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    status, body = await bob.request("PUT", f"/directory/list/room/{room_id}", {})
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    await alice.ok("PUT", f"/directory/list/room/{room_id}", {"visibility": "public"})
    assert await alice.ok("GET", f"/directory/list/room/{room_id}") == {"visibility": "public"}
    await admin.ok("PUT", f"/directory/list/room/{room_id}", {"visibility": "private"})
    assert await alice.ok("GET", f"/directory/list/room/{room_id}") == {"visibility": "private"}


async def test_publish_bad_visibility_is_400(client: Client) -> None:
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await alice.request(
        "PUT", f"/directory/list/room/{room_id}", {"visibility": "secret"}
    )
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")


# --- /publicRooms ----------------------------------------------------------------


async def test_public_rooms_sorted_by_joined_members(client: Client) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    small = await alice.create_room(visibility="public", name="Small")
    big = await alice.create_room(visibility="public", name="Big", topic="lots")
    await alice.create_room(name="Hidden")
    await bob.join(big)
    resp = await client.get(f"{V3}/publicRooms")
    body = await resp.json()
    assert resp.status == 200
    assert [c["room_id"] for c in body["chunk"]] == [big, small]
    first = body["chunk"][0]
    assert first["num_joined_members"] == 2
    assert first["name"] == "Big"
    assert first["topic"] == "lots"
    assert first["join_rule"] == "public"
    assert first["world_readable"] is False
    assert first["guest_can_join"] is False
    assert body["total_room_count_estimate"] == 2


async def test_public_rooms_search_term_matches_name_topic_alias(client: Client) -> None:
    alice = await new_user(client, "alice")
    by_name = await alice.create_room(visibility="public", name="Gardening club")
    by_topic = await alice.create_room(visibility="public", topic="all about GARDENS")
    by_alias = await alice.create_room(visibility="public", room_alias_name="gardenparty")
    await alice.create_room(visibility="public", name="Cooking")
    body = await alice.ok("POST", "/publicRooms", {"filter": {"generic_search_term": "garden"}})
    assert {c["room_id"] for c in body["chunk"]} == {by_name, by_topic, by_alias}
    alias_chunk = next(c for c in body["chunk"] if c["room_id"] == by_alias)
    assert alias_chunk["canonical_alias"] == "#gardenparty:test.local"


async def test_public_rooms_room_types_filter(client: Client) -> None:
    alice = await new_user(client, "alice")
    space = await alice.create_room(
        visibility="public", creation_content={"type": "m.space"}, name="S"
    )
    plain = await alice.create_room(visibility="public", name="P")
    body = await alice.ok("POST", "/publicRooms", {"filter": {"room_types": ["m.space"]}})
    assert [c["room_id"] for c in body["chunk"]] == [space]
    assert body["chunk"][0]["room_type"] == "m.space"
    body = await alice.ok("POST", "/publicRooms", {"filter": {"room_types": [None]}})
    assert [c["room_id"] for c in body["chunk"]] == [plain]


async def test_public_rooms_paginate_with_since(client: Client) -> None:
    alice = await new_user(client, "alice")
    rooms = {await alice.create_room(visibility="public") for _ in range(5)}
    seen: list[str] = []
    page = await alice.ok("POST", "/publicRooms", {"limit": 2})
    assert "prev_batch" not in page
    while True:
        seen.extend(c["room_id"] for c in page["chunk"])
        assert len(page["chunk"]) <= 2
        if "next_batch" not in page:
            break
        page = await alice.ok("POST", "/publicRooms", {"limit": 2, "since": page["next_batch"]})
        assert "prev_batch" in page
    assert sorted(seen) == sorted(rooms)
    resp = await client.get(f"{V3}/publicRooms", params={"limit": "2", "since": "p4"})
    assert [c["room_id"] for c in (await resp.json())["chunk"]] == seen[4:]


async def test_public_rooms_bad_since_and_other_server(client: Client) -> None:
    resp = await client.get(f"{V3}/publicRooms", params={"since": "garbage"})
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_INVALID_PARAM"
    resp = await client.get(f"{V3}/publicRooms", params={"server": "elsewhere"})
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_public_rooms_post_requires_auth(client: Client) -> None:
    resp = await client.post(f"{V3}/publicRooms", json={})
    assert resp.status == 401


# --- random input ----------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
keys = st.sampled_from(
    ["room_id", "visibility", "limit", "since", "filter", "generic_search_term", "room_types"]
)
bodies = st.dictionaries(keys | st.text(max_size=6), json_values, max_size=4) | json_values
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


async def _check(resp: Any) -> None:
    assert resp.status < 500
    if resp.status >= 400:
        body = await resp.json()
        assert isinstance(body["errcode"], str)
        assert isinstance(body["error"], str)


@FUZZ
@given(
    body=bodies,
    alias=st.text(max_size=20),
    target=st.sampled_from(["alias", "list", "public"]),
    method=st.sampled_from(["PUT", "GET", "DELETE", "POST"]),
    nested=json_values,
)
async def test_directory_random_requests_never_500(
    client: Client, body: Any, alias: str, target: str, method: str, nested: Any
) -> None:
    if not hasattr(client, "_fuzz_user"):
        user = await new_user(client, "fuzzer")
        client._fuzz_user = user  # type: ignore[attr-defined]
        client._fuzz_room = await user.create_room(visibility="public")  # type: ignore[attr-defined]
    user: User = client._fuzz_user  # type: ignore[attr-defined]
    if target == "alias":
        path = V3 + "/directory/room/" + quote(alias, safe="")
    elif target == "list":
        path = V3 + "/directory/list/room/" + quote(alias or client._fuzz_room, safe="")  # type: ignore[attr-defined]
    else:
        path = V3 + "/publicRooms"
        if isinstance(body, dict):
            body = {**body, "filter": nested}
    resp = await client.request(
        method,
        path,
        data=json.dumps(body).encode(),
        headers=user.headers,
        params={"limit": alias[:5], "since": alias} if target == "public" else None,
    )
    await _check(resp)


# --- application services' alias namespaces ------------------------------------


async def _with_exclusive_aliases(client_for: Any, tmp_path: Path) -> Client:
    reg = registration(
        None,
        namespaces={
            "users": [{"exclusive": True, "regex": "@bridge_.*:test.local"}],
            "aliases": [{"exclusive": True, "regex": "#bridge_.*:test.local"}],
            "rooms": [],
        },
    )
    client: Client = await client_for(app_service_config_files=[write_registration(tmp_path, reg)])
    return client


async def test_alias_in_exclusive_namespace_is_refused_to_users(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _with_exclusive_aliases(client_for, tmp_path)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    status, body = await alice.request(
        "PUT", alias_path("#bridge_x:test.local"), {"room_id": room_id}
    )
    assert (status, body["errcode"]) == (400, "M_EXCLUSIVE")
    status, body = await alice.request("POST", "/createRoom", {"room_alias_name": "bridge_y"})
    assert (status, body["errcode"]) == (400, "M_EXCLUSIVE")
    # Outside the namespace nothing changes.
    await alice.ok("PUT", alias_path("#other:test.local"), {"room_id": room_id})
    await alice.ok("POST", "/createRoom", {"room_alias_name": "other2"})


async def test_alias_in_exclusive_namespace_is_the_appservices(
    client_for: Any, tmp_path: Path
) -> None:
    client = await _with_exclusive_aliases(client_for, tmp_path)
    bot = User(
        client, {"user_id": "@bridgebot:test.local", "access_token": AS_TOKEN, "device_id": ""}
    )
    room_id = await bot.create_room(room_alias_name="bridge_made")
    await bot.ok("PUT", alias_path("#bridge_second:test.local"), {"room_id": room_id})
    await bot.ok("DELETE", alias_path("#bridge_second:test.local"))
    # An appservice may not take aliases outside its own namespace.
    status, body = await bot.request("PUT", alias_path("#plain:test.local"), {"room_id": room_id})
    assert (status, body["errcode"]) == (400, "M_EXCLUSIVE")
