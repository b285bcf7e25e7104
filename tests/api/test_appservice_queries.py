"""Queries to application services: rooms created on demand for unknown
aliases in their namespace, and third-party protocol lookups forwarded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.api.fake_bridge import AS_TOKEN, HS_TOKEN, registration, write_registration
from tests.api.helpers import auth_header, register_user

PROTOCOL = {
    "user_fields": ["nick"],
    "location_fields": ["channel"],
    "icon": "mxc://test.local/icon",
    "field_types": {
        "nick": {"regexp": ".*", "placeholder": "alice"},
        "channel": {"regexp": "#.*", "placeholder": "#general"},
    },
    "instances": [],
}


class QueryBridge:
    """An appservice that creates ``#bridge_*`` rooms when asked about them."""

    def __init__(self) -> None:
        self.client: Any = None
        self.alias_queries: list[str] = []
        app = web.Application()
        app.router.add_get("/_matrix/app/v1/rooms/{alias}", self._room)
        app.router.add_get("/_matrix/app/v1/thirdparty/protocol/{protocol}", self._protocol)
        app.router.add_get("/_matrix/app/v1/thirdparty/location/{protocol}", self._location)
        self.server = TestServer(app, host="127.0.0.1")

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {HS_TOKEN}"

    async def _room(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        alias = request.match_info["alias"]
        self.alias_queries.append(alias)
        localpart = alias[1:].split(":", 1)[0]
        resp = await self.client.post(
            "/_matrix/client/v3/createRoom",
            json={"room_alias_name": localpart, "preset": "public_chat"},
            headers=auth_header(AS_TOKEN),
        )
        assert resp.status == 200, await resp.text()
        return web.json_response({})

    async def _protocol(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        return web.json_response(PROTOCOL)

    async def _location(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel", "")
        return web.json_response(
            [
                {
                    "alias": f"#bridge_{channel.lstrip('#')}:test.local",
                    "protocol": request.match_info["protocol"],
                    "fields": {"channel": channel},
                }
            ]
        )


async def _start(client_for: Any, tmp_path: Path) -> tuple[Any, QueryBridge]:
    bridge = QueryBridge()
    await bridge.server.start_server()
    url = str(bridge.server.make_url("")).rstrip("/")
    path = write_registration(tmp_path, registration(url, protocols=["ircish"]))
    client = await client_for(app_service_config_files=[path])
    bridge.client = client
    return client, bridge


async def test_unknown_alias_in_namespace_is_created_by_appservice_on_join(
    client_for: Any, tmp_path: Path
) -> None:
    client, bridge = await _start(client_for, tmp_path)
    try:
        alice = await register_user(client, "alice")
        resp = await client.post(
            "/_matrix/client/v3/join/%23bridge_general:test.local",
            json={},
            headers=auth_header(alice["access_token"]),
        )
        assert resp.status == 200, await resp.text()
        assert bridge.alias_queries == ["#bridge_general:test.local"]
        resolved = await client.get(
            "/_matrix/client/v3/directory/room/%23bridge_general:test.local"
        )
        assert (await resolved.json())["room_id"] == (await resp.json())["room_id"]
    finally:
        await bridge.server.close()


async def test_unknown_alias_outside_namespace_is_not_asked(
    client_for: Any, tmp_path: Path
) -> None:
    client, bridge = await _start(client_for, tmp_path)
    try:
        resp = await client.get("/_matrix/client/v3/directory/room/%23other:test.local")
        assert resp.status == 404
        assert bridge.alias_queries == []
    finally:
        await bridge.server.close()


async def test_thirdparty_protocols_come_from_appservice(client_for: Any, tmp_path: Path) -> None:
    client, bridge = await _start(client_for, tmp_path)
    try:
        alice = await register_user(client, "alice")
        headers = auth_header(alice["access_token"])
        protocols = await (
            await client.get("/_matrix/client/v3/thirdparty/protocols", headers=headers)
        ).json()
        assert protocols["ircish"]["location_fields"] == ["channel"]
        locations = await (
            await client.get(
                "/_matrix/client/v3/thirdparty/location/ircish",
                params={"channel": "#general"},
                headers=headers,
            )
        ).json()
        assert locations[0]["alias"] == "#bridge_general:test.local"
    finally:
        await bridge.server.close()
