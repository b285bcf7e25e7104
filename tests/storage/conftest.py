"""Fixtures shared by the storage tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from homeserver.storage.db import Database
from homeserver.storage.db.open import open_database


@pytest.fixture
async def empty_db(db_url: str) -> AsyncIterator[Database]:
    """A database with no schema at all (not migrated), on each backend."""
    database = await open_database(db_url, readers=1, max_connections=2)
    try:
        yield database
    finally:
        await database.close()
