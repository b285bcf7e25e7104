"""``/thirdparty/*`` forwarded to real local appservices: protocol
descriptions (merged, with ``instance_id``), location and user lookups and
their reverse forms; malformed answers are dropped, never a 500."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.api.fake_bridge import registration, write_registration
from tests.api.rooms_helpers import User, new_user


def _description(network: str) -> dict[str, Any]:
    return {
        "user_fields": ["network", "nick"],
        "location_fields": ["network", "channel"],
        "icon": "mxc://test.local/icon",
        "field_types": {
            "network": {"regexp": "[a-z]+", "placeholder": "libera"},
            "nick": {"regexp": ".+", "placeholder": "alice"},
            "channel": {"regexp": "#.+", "placeholder": "#general"},
        },
        "instances": [
            {"desc": network.title(), "fields": {"network": network}, "network_id": network}
        ],
    }


class ThirdPartyAppservice:
    """Serves ``/_matrix/app/v1/thirdparty/*`` for its ``network``."""

    def __init__(self, network: str, hs_token: str, port: int | None = None) -> None:
        self.network = network
        self.hs_token = hs_token
        #: (path, query) of every request, in order
        self.requests: list[tuple[str, dict[str, str]]] = []
        #: answer every lookup with this (status, raw body) when set
        self.garbage: tuple[int, str] | None = None
        app = web.Application()
        app.router.add_get("/_matrix/app/v1/thirdparty/{rest:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1", port=port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.hs_token}":
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        self.requests.append((request.path, dict(request.query)))
        rest = request.match_info["rest"]
        if rest.startswith("protocol/"):
            return web.json_response(_description(self.network))
        if self.garbage is not None:
            status, text = self.garbage
            return web.Response(status=status, text=text, content_type="application/json")
        query = dict(request.query)
        if rest.startswith("location"):
            channel = query.get("channel", "#x")
            return web.json_response(
                [
                    {
                        "alias": query.get(
                            "alias", f"#{self.network}_{channel.lstrip('#')}:test.local"
                        ),
                        "protocol": "irc",
                        "fields": {"network": self.network, "channel": channel},
                    },
                    {"alias": 7, "protocol": "irc", "fields": {}},
                    "not an object",
                    {"alias": "#other:test.local", "protocol": "xmpp", "fields": {}},
                ]
            )
        nick = query.get("nick", "?")
        return web.json_response(
            [
                {
                    "userid": query.get("userid", f"@{self.network}_{nick}:test.local"),
                    "protocol": "irc",
                    "fields": {"network": self.network, "nick": nick},
                },
                {"userid": "@x:test.local", "protocol": "irc", "fields": "not an object"},
            ]
        )


def _registration(url: str, as_id: str, protocols: list[str]) -> dict[str, Any]:
    return registration(
        url,
        id=as_id,
        as_token=f"as-{as_id}",
        hs_token=f"hs-{as_id}",
        sender_localpart=f"{as_id}bot",
        namespaces={"users": [{"exclusive": True, "regex": f"@{as_id}_.*:test.local"}]},
        protocols=protocols,
    )


@asynccontextmanager
async def _running(as_id: str) -> AsyncIterator[ThirdPartyAppservice]:
    fake = ThirdPartyAppservice(as_id, f"hs-{as_id}")
    await fake.server.start_server()
    try:
        yield fake
    finally:
        await fake.server.close()


@pytest.fixture
async def libera() -> AsyncIterator[ThirdPartyAppservice]:
    async with _running("libera") as fake:
        yield fake


@pytest.fixture
async def oftc() -> AsyncIterator[ThirdPartyAppservice]:
    async with _running("oftc") as fake:
        yield fake


async def _start(client_for: Any, tmp_path: Path, *regs: dict[str, Any]) -> User:
    paths = [write_registration(tmp_path, reg, f"{reg['id']}.yaml") for reg in regs]
    client = await client_for(app_service_config_files=paths)
    return await new_user(client, "alice")


async def test_protocol_descriptions_merged_with_instance_ids(
    client_for: Any, tmp_path: Path, libera: ThirdPartyAppservice, oftc: ThirdPartyAppservice
) -> None:
    alice = await _start(
        client_for,
        tmp_path,
        _registration(libera.url, "libera", ["irc", "ircv3"]),
        _registration(oftc.url, "oftc", ["irc"]),
    )
    protocols = await alice.ok("GET", "/thirdparty/protocols")
    assert sorted(protocols) == ["irc", "ircv3"]
    irc = await alice.ok("GET", "/thirdparty/protocol/irc")
    assert irc == protocols["irc"]
    assert irc["location_fields"] == ["network", "channel"]
    assert [(i["network_id"], i["instance_id"]) for i in irc["instances"]] == [
        ("libera", "libera|libera"),
        ("oftc", "oftc|oftc"),
    ]
    assert [i["instance_id"] for i in protocols["ircv3"]["instances"]] == ["libera|libera"]
    status, body = await alice.request("GET", "/thirdparty/protocol/xmpp")
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_lookups_forwarded_with_fields_and_malformed_results_dropped(
    client_for: Any, tmp_path: Path, libera: ThirdPartyAppservice, oftc: ThirdPartyAppservice
) -> None:
    alice = await _start(
        client_for,
        tmp_path,
        _registration(libera.url, "libera", ["irc"]),
        _registration(oftc.url, "oftc", ["xmpp"]),
    )
    libera.requests.clear()
    locations = await alice.ok(
        "GET", "/thirdparty/location/irc", params={"channel": "#matrix", "network": "libera"}
    )
    assert locations == [
        {
            "alias": "#libera_matrix:test.local",
            "protocol": "irc",
            "fields": {"network": "libera", "channel": "#matrix"},
        },
        {"alias": "#other:test.local", "protocol": "xmpp", "fields": {}},
    ]
    users = await alice.ok("GET", "/thirdparty/user/irc", params={"nick": "bob"})
    assert users == [
        {
            "userid": "@libera_bob:test.local",
            "protocol": "irc",
            "fields": {"network": "libera", "nick": "bob"},
        }
    ]
    assert libera.requests == [
        (
            "/_matrix/app/v1/thirdparty/location/irc",
            {"channel": "#matrix", "network": "libera"},
        ),
        ("/_matrix/app/v1/thirdparty/user/irc", {"nick": "bob"}),
    ]
    # The other protocol's appservice is not asked.
    assert all("irc" not in path for path, _ in oftc.requests)


async def test_reverse_lookups_forwarded_once_per_result(
    client_for: Any, tmp_path: Path, libera: ThirdPartyAppservice
) -> None:
    alice = await _start(
        client_for, tmp_path, _registration(libera.url, "libera", ["irc", "ircv3"])
    )
    libera.requests.clear()
    locations = await alice.ok(
        "GET", "/thirdparty/location", params={"alias": "#libera_matrix:test.local"}
    )
    # Each result once, under its own protocol, though the appservice serves two.
    assert [(x["alias"], x["protocol"]) for x in locations] == [
        ("#libera_matrix:test.local", "irc")
    ]
    users = await alice.ok("GET", "/thirdparty/user", params={"userid": "@libera_bob:test.local"})
    assert [x["userid"] for x in users] == ["@libera_bob:test.local"]
    paths = {path for path, _ in libera.requests}
    assert paths == {"/_matrix/app/v1/thirdparty/location", "/_matrix/app/v1/thirdparty/user"}
    assert ("/_matrix/app/v1/thirdparty/location", {"alias": "#libera_matrix:test.local"}) in (
        libera.requests
    )


@pytest.mark.parametrize(
    "garbage",
    [(500, '{"errcode": "M_UNKNOWN"}'), (200, "not json"), (200, '{"a": 1}'), (200, "[NaN]")],
)
async def test_lookups_empty_when_appservice_answers_garbage(
    client_for: Any, tmp_path: Path, libera: ThirdPartyAppservice, garbage: tuple[int, str]
) -> None:
    alice = await _start(client_for, tmp_path, _registration(libera.url, "libera", ["irc"]))
    libera.garbage = garbage
    assert await alice.ok("GET", "/thirdparty/location/irc", params={"channel": "#a"}) == []
    assert await alice.ok("GET", "/thirdparty/user/irc") == []
    assert await alice.ok("GET", "/thirdparty/location", params={"alias": "#a:test.local"}) == []
    assert await alice.ok("GET", "/thirdparty/user", params={"userid": "@a:test.local"}) == []


async def test_lookups_empty_when_appservice_down(
    client_for: Any, tmp_path: Path, libera: ThirdPartyAppservice
) -> None:
    alice = await _start(client_for, tmp_path, _registration(libera.url, "libera", ["irc"]))
    await libera.server.close()
    assert await alice.ok("GET", "/thirdparty/location/irc", params={"channel": "#a"}) == []
    assert await alice.ok("GET", "/thirdparty/user", params={"userid": "@a:test.local"}) == []
    # The description fetched at start stays.
    irc = await alice.ok("GET", "/thirdparty/protocol/irc")
    assert irc["user_fields"] == ["network", "nick"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_protocol_described_once_appservice_comes_up(client_for: Any, tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    alice = await _start(client_for, tmp_path, _registration(url, "late", ["irc"]))
    # Not up at start: a stand-in description.
    stand_in = await alice.ok("GET", "/thirdparty/protocol/irc")
    assert (stand_in["user_fields"], stand_in["instances"]) == ([], [])
    late = ThirdPartyAppservice("late", "hs-late", port=port)
    await late.server.start_server()
    try:
        protocols = await alice.ok("GET", "/thirdparty/protocols")
        assert protocols["irc"]["user_fields"] == ["network", "nick"]
        assert protocols["irc"]["instances"][0]["instance_id"] == "late|late"
        asked = len(late.requests)
        await alice.ok("GET", "/thirdparty/protocol/irc")
        assert len(late.requests) == asked  # described once, not on every request
    finally:
        await late.server.close()
