"""Helpers for API tests: registering users and authenticating requests."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from homeserver.api.http import SERVICES_KEY
from homeserver.services.container import Services

REGISTER = "/_matrix/client/v3/register"
LOGIN = "/_matrix/client/v3/login"


def auth_header(token: str) -> dict[str, str]:
    """The Authorization header for an access token."""
    return {"Authorization": f"Bearer {token}"}


async def register_user(
    client: TestClient[Any, Any], localpart: str, password: str = "password-123"
) -> dict[str, Any]:
    """Registers a user through /register (m.login.dummy) on an open server.

    Returns:
        The register response: ``user_id``, ``access_token``, ``device_id``.
    """
    body = {"username": localpart, "password": password, "auth": {"type": "m.login.dummy"}}
    resp = await client.post(REGISTER, json=body)
    data: dict[str, Any] = await resp.json()
    assert resp.status == 200, data
    return data


async def login(
    client: TestClient[Any, Any], user: str, password: str = "password-123", **extra: Any
) -> dict[str, Any]:
    """Logs in with m.login.password; returns the login response."""
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
        **extra,
    }
    resp = await client.post(LOGIN, json=body)
    data: dict[str, Any] = await resp.json()
    assert resp.status == 200, data
    return data


def services_of(client: TestClient[Any, Any]) -> Services:
    """The service graph behind a test client's app."""
    return client.server.app[SERVICES_KEY]
