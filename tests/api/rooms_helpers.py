"""Helpers for the room API tests: create rooms, send events, join users."""

from __future__ import annotations

import itertools
import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import auth_header, register_user

V3 = "/_matrix/client/v3"
_txn_ids = itertools.count()


class User:
    """A registered user with their token, for readable tests."""

    def __init__(self, client: TestClient[Any, Any], data: dict[str, Any]) -> None:
        self.client = client
        self.user_id: str = data["user_id"]
        self.token: str = data["access_token"]
        self.device_id: str = data["device_id"]

    @property
    def headers(self) -> dict[str, str]:
        return auth_header(self.token)

    async def request(
        self, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> tuple[int, Any]:
        resp = await self.client.request(
            method, V3 + path, json=body, headers=self.headers, **kwargs
        )
        return resp.status, await resp.json()

    async def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        status, data = await self.request(method, path, body, **kwargs)
        assert status == 200, (method, path, status, data)
        return data

    async def create_room(self, **body: Any) -> str:
        data = await self.ok("POST", "/createRoom", body)
        room_id: str = data["room_id"]
        return room_id

    async def send(self, room_id: str, body: str = "hi", event_type: str = "m.room.message") -> str:
        txn = f"t{next(_txn_ids)}"
        data = await self.ok(
            "PUT", f"/rooms/{room_id}/send/{event_type}/{txn}", {"msgtype": "m.text", "body": body}
        )
        event_id: str = data["event_id"]
        return event_id

    async def put_state(
        self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = ""
    ) -> tuple[int, Any]:
        return await self.request(
            "PUT", f"/rooms/{room_id}/state/{event_type}/{state_key}", content
        )

    async def join(self, room_id: str) -> None:
        await self.ok("POST", f"/join/{room_id}", {})

    async def invite(self, room_id: str, user: User) -> None:
        await self.ok("POST", f"/rooms/{room_id}/invite", {"user_id": user.user_id})


async def new_user(client: TestClient[Any, Any], localpart: str) -> User:
    return User(client, await register_user(client, localpart))


async def sync(user: User, **params: Any) -> dict[str, Any]:
    """``GET /sync`` with query parameters; dicts (filters) are sent as JSON."""
    query = {k: (json.dumps(v) if isinstance(v, dict) else str(v)) for k, v in params.items()}
    data: dict[str, Any] = await user.ok("GET", "/sync", params=query)
    return data


async def shared_room(client: TestClient[Any, Any]) -> tuple[User, User, str]:
    """``alice`` and ``bob``, both joined to a public room alice created."""
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    return alice, bob, room_id
