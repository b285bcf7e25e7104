"""``Connection.after_commit``: callbacks run after a commit, never after a rollback."""

from __future__ import annotations

import pytest

from homeserver.storage.db import Database


class Boom(Exception):
    pass


async def test_callbacks_run_after_commit_in_order(db: Database) -> None:
    calls: list[str] = []
    async with db.write() as txn:
        await txn.execute("SELECT 1")
        txn.after_commit(lambda: calls.append("first"))
        txn.after_commit(lambda: calls.append("second"))
        assert calls == []
    assert calls == ["first", "second"]


async def test_callbacks_of_a_rolled_back_transaction_never_run(db: Database) -> None:
    calls: list[str] = []

    async def failing() -> None:
        async with db.write() as txn:
            await txn.execute("SELECT 1")
            txn.after_commit(lambda: calls.append("never"))
            raise Boom

    with pytest.raises(Boom):
        await failing()
    async with db.write():
        pass
    assert calls == []


async def test_on_a_read_connection_the_callback_runs_at_once(db: Database) -> None:
    calls: list[str] = []
    async with db.read() as conn:
        conn.after_commit(lambda: calls.append("now"))
        assert calls == ["now"]
