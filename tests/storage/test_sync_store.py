"""SyncStore reads that have a one-room form and a many-room form."""

from __future__ import annotations

import json

from homeserver.storage.db import Database
from homeserver.storage.stores.sync import SyncStore

ROOMS = ("!a:test.local", "!b:test.local")


async def _insert(db: Database, stream: int, room_id: str, *, outlier: bool = False) -> None:
    async with db.write() as txn:
        await txn.execute(
            "INSERT INTO events (stream_ordering, event_id, room_id, type, sender, depth, "
            "origin_server_ts, received_ts, json, outlier) "
            "VALUES ($1, $2, $3, 'm.room.message', '@a:test.local', $1, 0, 0, $4, $5)",
            stream,
            f"$e{stream}",
            room_id,
            json.dumps({"type": "m.room.message"}),
            outlier,
        )


async def test_recent_event_ids_one_room_matches_many_room_form(db: Database) -> None:
    # Interleaved rooms; one outlier, which neither form returns.
    for stream in range(1, 21):
        await _insert(db, stream, ROOMS[stream % 2], outlier=stream == 17)
    store = SyncStore()
    async with db.read() as conn:
        for after, upto, limit in [(0, 20, 3), (4, 15, 10), (10, 11, 5), (18, 18, 5), (0, 20, 1)]:
            both = await store.recent_event_ids(
                conn, [(ROOMS[0], after, upto), (ROOMS[1], after, upto)], limit
            )
            for room_id in ROOMS:
                alone = await store.recent_event_ids(conn, [(room_id, after, upto)], limit)
                assert alone == {room_id: both[room_id]}
                expected = [
                    f"$e{s}"
                    for s in range(after + 1, upto + 1)
                    if ROOMS[s % 2] == room_id and s != 17
                ][-limit:]
                assert alone[room_id] == expected
