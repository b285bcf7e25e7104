"""Delta 0017 fills ``push_room_members`` from the membership history."""

from __future__ import annotations

import shutil
from pathlib import Path

from homeserver.storage.db import Database
from homeserver.storage.db.migrate import default_deltas_dir, migrate

# (user, [(membership, stream_ordering), ...]) in room !r
HISTORY = {
    "@creator:hs": [("join", 1)],
    "@returning:hs": [("invite", 2), ("join", 3), ("leave", 5), ("join", 7), ("join", 9)],
    "@renamed:hs": [("join", 4), ("join", 8)],
    "@gone:hs": [("join", 6), ("leave", 10)],
}


async def test_backfill_starts_at_first_join_of_current_membership(
    empty_db: Database, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for delta in sorted(default_deltas_dir().iterdir()):
        if delta.name[:4].isdigit() and int(delta.name[:4]) <= 16:
            shutil.copy(delta, old / delta.name)
    await migrate(empty_db, deltas_dir=old)
    async with empty_db.write() as txn:
        for user_id, history in HISTORY.items():
            for membership, position in history:
                await txn.execute(
                    "INSERT INTO room_memberships (event_id, room_id, user_id, sender, "
                    "membership, stream_ordering) VALUES ($1, '!r', $2, $2, $3, $4)",
                    f"$e{position}",
                    user_id,
                    membership,
                    position,
                )
            membership, position = history[-1]
            await txn.execute(
                "INSERT INTO current_state_events (room_id, type, state_key, event_id, "
                "membership) VALUES ('!r', 'm.room.member', $1, $2, $3)",
                user_id,
                f"$e{position}",
                membership,
            )
    await migrate(empty_db)
    async with empty_db.read() as conn:
        rows = await conn.fetch("SELECT user_id, room_id, since FROM push_room_members")
    assert {r["user_id"]: (r["room_id"], int(r["since"])) for r in rows} == {
        "@creator:hs": ("!r", 1),
        "@returning:hs": ("!r", 7),
        "@renamed:hs": ("!r", 4),
    }
