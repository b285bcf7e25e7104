"""Shared pieces of the admin API tests: an admin user and request shortcuts."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import auth_header, login, services_of

Client = TestClient[Any, Any]
A1 = "/_synapse/admin/v1"
A2 = "/_synapse/admin/v2"


class Admin:
    def __init__(self, client: Client, user_id: str, token: str) -> None:
        self.client = client
        self.user_id = user_id
        self.token = token

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        resp = await self.client.request(method, path, json=body, headers=auth_header(self.token))
        return resp.status, await resp.json()

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, data = await self.request(method, path, body)
        assert got == status, (method, path, got, data)
        return data


async def new_admin(client: Client, localpart: str = "root") -> Admin:
    """Registers a server admin through the registration service and logs in over HTTP."""
    user_id = await services_of(client).registration.register_user(
        localpart, "password-123", admin=True
    )
    data = await login(client, localpart)
    return Admin(client, user_id, data["access_token"])
