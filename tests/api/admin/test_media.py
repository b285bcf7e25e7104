"""The admin media API: info, quarantine, protection, listings, deletion."""

from __future__ import annotations

import importlib
import re
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.admin.admin_helpers import A1, Client, new_admin
from tests.api.helpers import auth_header, services_of
from tests.api.rooms_helpers import new_user

SERVER = "test.local"


async def _upload(client: Client, user: Any, data: bytes = b"hello") -> str:
    resp = await client.post(
        "/_matrix/media/v3/upload",
        data=data,
        headers={**user.headers, "Content-Type": "text/plain"},
    )
    assert resp.status == 200
    uri: str = (await resp.json())["content_uri"]
    return uri.rsplit("/", 1)[1]


async def _download_status(client: Client, user: Any, media_id: str) -> int:
    resp = await client.get(
        f"/_matrix/client/v1/media/download/{SERVER}/{media_id}", headers=user.headers
    )
    return resp.status


async def test_media_info_shows_upload(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    media_id = await _upload(client, bob)
    info = (await admin.ok("GET", f"{A1}/media/{SERVER}/{media_id}"))["media_info"]
    assert info["media_id"] == media_id
    assert info["media_length"] == 5
    assert info["user_id"] == bob.user_id
    assert info["quarantined_by"] is None
    status, data = await admin.request("GET", f"{A1}/media/{SERVER}/nope")
    assert status == 404
    assert data["errcode"] == "M_NOT_FOUND"


async def test_quarantine_hides_media_until_unquarantined(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    media_id = await _upload(client, bob)
    await admin.ok("POST", f"{A1}/media/quarantine/{SERVER}/{media_id}", {})
    assert await _download_status(client, bob, media_id) == 404
    await admin.ok("POST", f"{A1}/media/unquarantine/{SERVER}/{media_id}", {})
    assert await _download_status(client, bob, media_id) == 200


async def test_protected_media_cannot_be_quarantined(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    media_id = await _upload(client, bob)
    await admin.ok("POST", f"{A1}/media/protect/{media_id}", {})
    await admin.ok("POST", f"{A1}/media/quarantine/{SERVER}/{media_id}", {})
    assert await _download_status(client, bob, media_id) == 200
    data = await admin.ok("POST", f"{A1}/user/{bob.user_id}/media/quarantine", {})
    assert data == {"num_quarantined": 0}
    await admin.ok("POST", f"{A1}/media/unprotect/{media_id}", {})
    data = await admin.ok("POST", f"{A1}/user/{bob.user_id}/media/quarantine", {})
    assert data == {"num_quarantined": 1}
    assert await _download_status(client, bob, media_id) == 404


async def test_room_media_lists_and_quarantines_mxc_urls(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    media_id = await _upload(client, bob)
    room_id = await bob.create_room()
    await bob.ok(
        "PUT",
        f"/rooms/{room_id}/send/m.room.message/img1",
        {"msgtype": "m.image", "body": "a", "url": f"mxc://{SERVER}/{media_id}"},
    )
    await bob.ok(
        "PUT",
        f"/rooms/{room_id}/send/m.room.message/img2",
        {"msgtype": "m.image", "body": "b", "url": "mxc://elsewhere.example/abc"},
    )
    listed = await admin.ok("GET", f"{A1}/room/{room_id}/media")
    assert listed == {
        "local": [f"mxc://{SERVER}/{media_id}"],
        "remote": ["mxc://elsewhere.example/abc"],
    }
    data = await admin.ok("POST", f"{A1}/room/{room_id}/media/quarantine", {})
    assert data == {"num_quarantined": 1}
    assert await _download_status(client, bob, media_id) == 404


async def test_delete_media_removes_row_and_file(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    media_id = await _upload(client, bob)
    path = services_of(client).media.files.content_path(media_id)
    assert path.exists()
    data = await admin.ok("DELETE", f"{A1}/media/{SERVER}/{media_id}")
    assert data == {"deleted_media": [media_id], "total": 1}
    assert not path.exists()
    assert await _download_status(client, bob, media_id) == 404
    status, _ = await admin.request("DELETE", f"{A1}/media/{SERVER}/{media_id}")
    assert status == 404


async def test_delete_media_before_ts_respects_size_and_protection(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    small = await _upload(client, bob, b"x")
    big = await _upload(client, bob, b"x" * 100)
    kept = await _upload(client, bob, b"y" * 100)
    await admin.ok("POST", f"{A1}/media/protect/{kept}", {})
    future = 2**53
    data = await admin.ok("POST", f"{A1}/media/delete?before_ts={future}&size_gt=10", {})
    assert data == {"deleted_media": [big], "total": 1}
    none = await admin.ok("POST", f"{A1}/media/delete?before_ts=0", {})
    assert none["total"] == 0
    assert await _download_status(client, bob, small) == 200
    status, err = await admin.request("POST", f"{A1}/media/delete", {})
    assert status == 400
    assert err["errcode"] == "M_MISSING_PARAM"


async def test_user_media_pages_orders_and_deletes(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    ids = [await _upload(client, bob, b"z" * n) for n in (1, 3, 2)]
    path = f"{A1}/users/{bob.user_id}/media"
    first = await admin.ok("GET", f"{path}?limit=2&order_by=media_length&dir=b")
    assert [m["media_length"] for m in first["media"]] == [3, 2]
    assert first["total"] == 3
    assert first["next_token"] == 2
    rest = await admin.ok("GET", f"{path}?from=2&order_by=media_length&dir=b")
    assert [m["media_id"] for m in rest["media"]] == [ids[0]]
    status, err = await admin.request("GET", f"{path}?order_by=nope")
    assert status == 400
    assert err["errcode"] == "M_INVALID_PARAM"
    deleted = await admin.ok("DELETE", path)
    assert sorted(deleted["deleted_media"]) == sorted(ids)
    assert (await admin.ok("GET", path))["total"] == 0


async def test_media_statistics_per_user(client: Client) -> None:
    admin = await new_admin(client)
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    await _upload(client, bob, b"aa")
    await _upload(client, bob, b"bbb")
    await _upload(client, carol, b"c")
    data = await admin.ok("GET", f"{A1}/statistics/users/media?order_by=media_length&dir=b")
    assert data["total"] == 2
    assert data["users"][0] == {
        "user_id": bob.user_id,
        "displayname": "bob",
        "media_count": 2,
        "media_length": 5,
    }
    assert data["users"][1]["user_id"] == carol.user_id
    for order in ("user_id", "displayname", "media_count"):
        ordered = await admin.ok("GET", f"{A1}/statistics/users/media?order_by={order}")
        assert ordered["total"] == 2


async def test_federation_destinations_empty(client: Client) -> None:
    admin = await new_admin(client)
    data = await admin.ok("GET", f"{A1}/federation/destinations")
    assert data == {"destinations": [], "total": 0}


_NEW_MODULES = ("homeserver.api.admin.media", "homeserver.api.admin.user_activity")
_NEW_ROUTES = [r for name in _NEW_MODULES for r in importlib.import_module(name).routes]
_PARAMS = ("before_ts", "size_gt", "keep_profiles", "order_by", "dir", "from", "limit")
_ADMINS: dict[int, Any] = {}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    index=st.integers(0, len(_NEW_ROUTES) - 1),
    params=st.dictionaries(
        st.sampled_from([*_PARAMS, "from_ts", "deactivated"]), st.text(max_size=8), max_size=4
    ),
    segment=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
)
async def test_new_admin_routes_random_input_never_500(
    client: Client, index: int, params: dict[str, str], segment: str
) -> None:
    admin = _ADMINS.get(id(client))
    if admin is None:
        admin = _ADMINS[id(client)] = await new_admin(client)
    route = _NEW_ROUTES[index]
    path = re.sub(r"\{\w+\}", lambda _: quote(segment, safe=""), route.path)
    resp = await client.request(
        route.method, path, params=params, data=b"{}", headers=auth_header(admin.token)
    )
    assert resp.status < 500, (route.path, params, segment)
    if resp.status >= 400:
        data = await resp.json()
        assert isinstance(data["errcode"], str)
        assert isinstance(data["error"], str)
