"""Fixtures: our real homeserver (both backends) and a bridge's own database.

The homeserver fixtures come from the API tests; the bridge's state store gets
a database of its own on the same backend as the homeserver's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.conftest import client_for, make_config
from tests.conftest import _postgres_schema

__all__ = ["bridge_db_url", "client_for", "make_config"]


@pytest.fixture
async def bridge_db_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """An empty database for the bridge, on the test's backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'bridge.db'}"
        return
    dsn: str = request.getfixturevalue("postgres_dsn")
    async with _postgres_schema(dsn) as url:
        yield url
