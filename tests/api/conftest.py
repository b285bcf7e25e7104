"""Fixtures for API tests: the real app over a real database, on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from homeserver.app import create_app
from homeserver.config import load_config
from homeserver.config.model import Config
from homeserver.services.clock import FakeClock

ConfigFactory = Callable[..., Config]


@pytest.fixture
def make_config(db_url: str, tmp_path: Any) -> ConfigFactory:
    """Builds a Config on the test's database; keyword arguments are overrides."""

    def factory(**overrides: Any) -> Config:
        base: dict[str, Any] = {
            "server_name": "test.local",
            "data_dir": str(tmp_path / "data"),
            "database": {"url": db_url},
            "registration": {"enabled": True, "shared_secret": "s3cret"},
            "rate_limits": {"enabled": False},
            "logging": {"access_log": False},
            # Cheap hashing keeps the suite fast; production defaults are tested
            # in tests/services/accounts/test_passwords.py.
            "auth": {"argon2_time_cost": 1, "argon2_memory_kib": 256},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
        return load_config(None, environ={}, overrides=base)

    return factory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client_for(
    make_config: ConfigFactory,
) -> AsyncIterator[Callable[..., Any]]:
    """Starts the real app with config overrides.

    ``client = await client_for(registration={...})``
    """
    clients: list[TestClient[Any, Any]] = []

    async def start(*, clock: Any = None, **overrides: Any) -> TestClient[Any, Any]:
        app = create_app(make_config(**overrides), clock=clock)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for c in clients:
        await c.close()


@pytest.fixture
async def client(client_for: Callable[..., Any]) -> TestClient[Any, Any]:
    """The app with default test config (registration open, no rate limits)."""
    c: TestClient[Any, Any] = await client_for()
    return c
