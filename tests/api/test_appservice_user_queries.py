"""User and alias queries to a real local appservice: unknown ids in its
namespaces are asked about (``GET /_matrix/app/v1/users/{userId}``,
``/rooms/{roomAlias}``) from profile lookups, invites and alias resolution;
an appservice that says no, is down, slow or answers garbage leaves the
usual 404 (never a 500)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.api.fake_bridge import AS_TOKEN, HS_TOKEN, registration, write_registration
from tests.api.helpers import REGISTER, auth_header, services_of
from tests.api.rooms_helpers import V3, new_user

#: How the appservice answers a query: ``create`` registers the user (or
#: creates the room and alias) and answers 200 ``{}``; ``create-no-body``
#: does the same but answers an empty 200; the others create nothing.
MODES = ("create", "create-no-body", "404", "500", "not-json", "list", "slow")


class QueryAppservice:
    """An appservice that answers user and alias queries as ``mode`` says."""

    def __init__(self) -> None:
        self.client: Any = None
        self.mode = "create"
        self.delay_s = 0.0
        self.user_queries: list[str] = []
        self.alias_queries: list[str] = []
        self.bad_auth = 0
        app = web.Application()
        app.router.add_get("/_matrix/app/v1/users/{userId}", self._user)
        app.router.add_get("/_matrix/app/v1/rooms/{alias}", self._room)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def _answer(self, create: Any) -> web.StreamResponse:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.mode == "slow":
            await asyncio.sleep(1.5)
        if self.mode.startswith("create"):
            await create()
            if self.mode == "create-no-body":
                return web.Response(status=200)
            return web.json_response({})
        if self.mode == "404":
            return web.json_response({"errcode": "COM.EXAMPLE.NOT_HERE"}, status=404)
        if self.mode == "500":
            return web.json_response({"errcode": "M_UNKNOWN"}, status=500)
        if self.mode == "not-json":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        return web.json_response([1, 2])

    def _refused(self, request: web.Request) -> web.StreamResponse | None:
        """403 unless the homeserver sent its hs_token (counted in ``bad_auth``)."""
        if request.headers.get("Authorization") == f"Bearer {HS_TOKEN}":
            return None
        self.bad_auth += 1
        return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)

    async def _user(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._refused(request)) is not None:
            return refused
        user_id = request.match_info["userId"]
        self.user_queries.append(user_id)

        async def create() -> None:
            localpart = user_id[1:].split(":", 1)[0]
            body = {"type": "m.login.application_service", "username": localpart}
            resp = await self.client.post(REGISTER, json=body, headers=auth_header(AS_TOKEN))
            assert resp.status == 200, await resp.text()
            resp = await self.client.put(
                f"{V3}/profile/{quote(user_id)}/displayname",
                json={"displayname": f"Ghost {localpart}"},
                params={"user_id": user_id},
                headers=auth_header(AS_TOKEN),
            )
            assert resp.status == 200, await resp.text()

        return await self._answer(create)

    async def _room(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._refused(request)) is not None:
            return refused
        alias = request.match_info["alias"]
        self.alias_queries.append(alias)

        async def create() -> None:
            resp = await self.client.post(
                f"{V3}/createRoom",
                json={"room_alias_name": alias[1:].split(":", 1)[0], "preset": "public_chat"},
                headers=auth_header(AS_TOKEN),
            )
            assert resp.status == 200, await resp.text()

        return await self._answer(create)


@pytest.fixture
async def appservice() -> AsyncIterator[QueryAppservice]:
    fake = QueryAppservice()
    await fake.server.start_server()
    yield fake
    await fake.server.close()


async def _start(client_for: Any, tmp_path: Path, fake: QueryAppservice, **reg: Any) -> Any:
    path = write_registration(tmp_path, registration(fake.url, **reg))
    client = await client_for(app_service_config_files=[path])
    fake.client = client
    return client


async def _profile(client: Any, user_id: str) -> tuple[int, Any]:
    resp = await client.get(f"{V3}/profile/{quote(user_id)}")
    return resp.status, await resp.json()


# --- users: profile lookups ------------------------------------------------------


@pytest.mark.parametrize("mode", ["create", "create-no-body"])
async def test_profile_of_unknown_user_created_by_appservice(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice, mode: str
) -> None:
    client = await _start(client_for, tmp_path, appservice)
    appservice.mode = mode
    status, body = await _profile(client, "@bridge_carol:test.local")
    assert status == 200, body
    assert body["displayname"] == "Ghost bridge_carol"
    assert appservice.user_queries == ["@bridge_carol:test.local"]
    assert appservice.bad_auth == 0
    # Known now: no second query.
    assert (await _profile(client, "@bridge_carol:test.local"))[0] == 200
    assert appservice.user_queries == ["@bridge_carol:test.local"]


async def test_profile_of_user_in_non_exclusive_namespace_asks_appservice(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice
) -> None:
    namespaces = {
        "users": [{"exclusive": False, "regex": "@shared_.*:test.local"}],
        "aliases": [],
        "rooms": [],
    }
    client = await _start(client_for, tmp_path, appservice, namespaces=namespaces)
    status, body = await _profile(client, "@shared_dan:test.local")
    assert (status, body.get("displayname")) == (200, "Ghost shared_dan")
    assert appservice.user_queries == ["@shared_dan:test.local"]


@pytest.mark.parametrize("mode", ["404", "500", "not-json", "list"])
async def test_profile_not_found_when_appservice_says_no_or_garbage(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice, mode: str
) -> None:
    client = await _start(client_for, tmp_path, appservice)
    appservice.mode = mode
    status, body = await _profile(client, "@bridge_nobody:test.local")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    assert appservice.user_queries == ["@bridge_nobody:test.local"]
    status, body = await _profile(client, "@bridge_nobody:test.local")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    field = await client.get(f"{V3}/profile/{quote('@bridge_nobody:test.local')}/displayname")
    assert field.status == 404


async def test_profile_not_found_quickly_when_appservice_slow(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice
) -> None:
    client = await _start(client_for, tmp_path, appservice)
    services_of(client).appservices.queries.timeout_s = 0.2
    appservice.mode = "slow"
    start = time.monotonic()
    status, body = await _profile(client, "@bridge_slow:test.local")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    assert time.monotonic() - start < 3


async def test_profile_not_found_when_appservice_down(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice
) -> None:
    client = await _start(client_for, tmp_path, appservice)
    await appservice.server.close()
    status, body = await _profile(client, "@bridge_gone:test.local")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_profile_outside_namespace_not_asked(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice
) -> None:
    client = await _start(client_for, tmp_path, appservice)
    assert (await _profile(client, "@someone:test.local"))[0] == 404
    assert (await _profile(client, "@bridge_remote:elsewhere.example"))[0] == 404
    alice = await new_user(client, "alice")
    assert (await _profile(client, alice.user_id))[0] == 200
    assert appservice.user_queries == []


async def test_concurrent_lookups_share_one_query(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice
) -> None:
    client = await _start(client_for, tmp_path, appservice)
    appservice.mode = "404"
    appservice.delay_s = 0.3
    results = await asyncio.gather(*(_profile(client, "@bridge_busy:test.local") for _ in range(3)))
    assert [status for status, _ in results] == [404, 404, 404]
    assert appservice.user_queries == ["@bridge_busy:test.local"]


# --- users: invites --------------------------------------------------------------


async def test_invite_of_unknown_user_asks_appservice_first(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice
) -> None:
    client = await _start(client_for, tmp_path, appservice)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    ghost = "@bridge_erin:test.local"
    await alice.ok("POST", f"/rooms/{room_id}/invite", {"user_id": ghost})
    assert appservice.user_queries == [ghost]
    member = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.member/{quote(ghost)}")
    assert member == {"membership": "invite", "displayname": "Ghost bridge_erin"}
    # The appservice's new user accepts.
    resp = await client.post(
        f"{V3}/rooms/{room_id}/join",
        json={},
        params={"user_id": ghost},
        headers=auth_header(AS_TOKEN),
    )
    assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("mode", ["404", "500", "not-json"])
async def test_invite_unchanged_when_appservice_says_no(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice, mode: str
) -> None:
    client = await _start(client_for, tmp_path, appservice)
    appservice.mode = mode
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    ghost = "@bridge_frank:test.local"
    # As without an appservice: the invite of an unknown local user is sent,
    # with no profile in it.
    await alice.ok("POST", f"/rooms/{room_id}/invite", {"user_id": ghost})
    assert appservice.user_queries == [ghost]
    member = await alice.ok("GET", f"/rooms/{room_id}/state/m.room.member/{quote(ghost)}")
    assert member == {"membership": "invite"}


async def test_invite_of_known_user_not_asked(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice
) -> None:
    client = await _start(client_for, tmp_path, appservice)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room()
    body = {"type": "m.login.application_service", "username": "bridge_gina"}
    resp = await client.post(REGISTER, json=body, headers=auth_header(AS_TOKEN))
    assert resp.status == 200
    await alice.ok("POST", f"/rooms/{room_id}/invite", {"user_id": "@bridge_gina:test.local"})
    assert appservice.user_queries == []


# --- aliases ---------------------------------------------------------------------


async def test_directory_lookup_of_unknown_alias_created_by_appservice(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice
) -> None:
    client = await _start(client_for, tmp_path, appservice)
    alias = "#bridge_lobby:test.local"
    resp = await client.get(f"{V3}/directory/room/{quote(alias)}")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["servers"] == ["test.local"]
    assert appservice.alias_queries == [alias]
    alice = await new_user(client, "alice")
    joined = await alice.ok("POST", f"/join/{quote(alias)}", {})
    assert joined["room_id"] == body["room_id"]
    assert appservice.alias_queries == [alias]


@pytest.mark.parametrize("mode", ["404", "500", "not-json", "list", "slow"])
async def test_alias_not_found_when_appservice_says_no_or_garbage(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice, mode: str
) -> None:
    client = await _start(client_for, tmp_path, appservice)
    services_of(client).appservices.queries.timeout_s = 0.2
    appservice.mode = mode
    alias = quote("#bridge_void:test.local")
    resp = await client.get(f"{V3}/directory/room/{alias}")
    assert (resp.status, (await resp.json())["errcode"]) == (404, "M_NOT_FOUND")
    alice = await new_user(client, "alice")
    status, body = await alice.request("POST", f"/join/{alias}", {})
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
    assert appservice.alias_queries == ["#bridge_void:test.local"] * 2


async def test_remote_alias_never_asked(
    client_for: Any, tmp_path: Path, appservice: QueryAppservice
) -> None:
    # A namespace that matches any server still only gets local aliases:
    # the appservice cannot create an alias on another server.
    namespaces = {"users": [], "aliases": [{"exclusive": False, "regex": "#bridge_.*"}]}
    client = await _start(client_for, tmp_path, appservice, namespaces=namespaces)
    resp = await client.get(f"{V3}/directory/room/{quote('#bridge_x:elsewhere.example')}")
    assert resp.status == 404
    assert appservice.alias_queries == []
