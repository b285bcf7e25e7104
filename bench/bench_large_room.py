"""Send latency in a large room, against a fresh small room, in-process.

Builds a room with many members (default 10,000, each joined through the
room services, as /join would) and many events (default 100,000 in total,
the rest messages from the members), then times 200 sends into it and 200
sends into a fresh two-member room in the same process, and reports the
stored bytes per event. Our server only; no HTTP. Not a test.

Run from the repository root::

    python3 bench/bench_large_room.py                    # SQLite in a temp dir
    python3 bench/bench_large_room.py --postgres DSN     # an empty PostgreSQL database
    python3 bench/bench_large_room.py --postgres auto    # a throwaway PostgreSQL cluster
    python3 bench/bench_large_room.py --members 2000 --events 20000 --budget 120

Building stops when ``--budget`` seconds are used up (default 480): the table
then says how many members and events the room really had.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import PostgresCluster
from homeserver.app import close_services, open_services
from homeserver.config.load import load_config
from homeserver.services.container import Services
from homeserver.services.requester import Requester
from homeserver.services.rooms.create import CreateRoomRequest
from homeserver.services.rooms.persist import TxnKey

SERVER_NAME = "bench.localhost"
#: Timed sends per room, in ROUNDS interleaved rounds.
SAMPLES = 200
ROUNDS = 4


def percentile(values: list[float], p: float) -> float:
    data = sorted(values)
    if not data:
        return math.nan
    k = (len(data) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def say(message: str) -> None:
    print(message, flush=True)


class Builder:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._txn = 0

    def requester(self, user_id: str) -> Requester:
        return Requester(user_id=user_id, device_id="BENCH")

    async def register(self, localpart: str) -> str:
        return await self.svc.registration.register_user(localpart, "bench-password")

    async def send_text(self, user_id: str, room_id: str, body: str) -> str:
        self._txn += 1
        # Like the API: the path holds the txn id (the key is device + path).
        txn_id = str(self._txn)
        txn = TxnKey(user_id, "BENCH", f"/rooms/{room_id}/send/m.room.message/{txn_id}", txn_id)
        return await self.svc.rooms.send.send_message(
            self.requester(user_id),
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": body},
            txn,
        )

    async def time_sends(self, user_id: str, room_id: str, label: str, n: int) -> list[float]:
        out: list[float] = []
        for i in range(n):
            t0 = time.perf_counter()
            await self.send_text(user_id, room_id, f"{label} {i}")
            out.append((time.perf_counter() - t0) * 1000)
        return out


async def stored_bytes(svc: Services, room_id: str) -> tuple[int, int]:
    """(events of the room, total bytes of their stored JSON)."""
    async with svc.db.read() as conn:
        row = await conn.fetchrow(
            "SELECT COUNT(*) AS n, SUM(LENGTH(json)) AS b FROM events WHERE room_id = $1",
            room_id,
        )
    assert row is not None
    return int(row["n"]), int(row["b"] or 0)


async def total_events(svc: Services) -> int:
    async with svc.db.read() as conn:
        row = await conn.fetchrow("SELECT COUNT(*) AS n FROM events")
    assert row is not None
    return int(row["n"])


async def database_size(svc: Services, url: str, events: int) -> str:
    """The database's size, and per event of the whole database (state, indexes...)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    else:
        async with svc.db.read() as conn:
            size = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    return (
        f"{size / 1e6:.1f} MB for {events} events"
        f" = {size / max(events, 1):.0f} bytes/event incl. state, push actions and indexes"
    )


def largest_tables(url: str, top: int = 4) -> str:
    """The SQLite tables and indexes taking the most space (dbstat), for the summary."""
    if not url.startswith("sqlite:///"):
        return ""
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        rows = conn.execute(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT ?", (top,)
        ).fetchall()
    except sqlite3.Error:
        return ""
    finally:
        conn.close()
    return ", ".join(f"{name} {size / 1e6:.0f} MB" for name, size in rows)


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-large-room-"))
    url = args.postgres or f"sqlite:///{tmp / 'homeserver.db'}"
    overrides: dict[str, Any] = {
        "server_name": SERVER_NAME,
        "data_dir": str(tmp / "data"),
        "database": {"url": url},
        "registration": {"enabled": True},
        "rate_limits": {"enabled": False},
        "logging": {"access_log": False, "level": "WARNING"},
        "auth": {"argon2_time_cost": 1, "argon2_memory_kib": 256},
    }
    config = load_config(None, environ={}, overrides=overrides)
    svc = await open_services(config)
    b = Builder(svc)
    started = time.monotonic()
    deadline = started + args.budget
    try:
        owner = await b.register("owner")
        big, _ = await svc.rooms.create.create_room(
            b.requester(owner), CreateRoomRequest.from_json({"preset": "public_chat"})
        )
        members = [owner]
        # Joins go one at a time through the room lock anyway; registering runs
        # a few at a time (password hashing in a thread).
        batch = 50
        t0 = time.monotonic()
        # Joins get at most 60% of the budget, so that some history gets built too.
        join_deadline = started + args.budget * 0.6
        while len(members) < args.members and time.monotonic() < join_deadline:
            start = len(members)
            count = min(batch, args.members - start)
            new = await asyncio.gather(*(b.register(f"m{start + i}") for i in range(count)))
            for user_id in new:
                await svc.rooms.membership.join(b.requester(user_id), big)
            members.extend(new)
            if len(members) % 1000 < batch:
                rate = (len(members) - 1) / (time.monotonic() - t0)
                say(f"  {len(members)} members ({rate:.0f} joins/s)")
        joined_s = time.monotonic() - t0
        events, _ = await stored_bytes(svc, big)
        t0 = last_said = time.monotonic()
        i = 0
        while events < args.events and time.monotonic() < deadline:
            sender = members[i % len(members)]
            await b.send_text(sender, big, f"history message {i}")
            i += 1
            events += 1
            if i % 5000 == 0 or time.monotonic() - last_said > 30:
                last_said = time.monotonic()
                rate = i / (last_said - t0)
                say(f"  {events} events ({rate:.1f} sends/s)")
        history_s = time.monotonic() - t0
        built_s = time.monotonic() - started
        n_events, n_bytes = await stored_bytes(svc, big)
        say(
            f"built: {len(members)} members in {joined_s:.0f}s, {n_events} events"
            f" ({i} messages in {history_s:.0f}s); {built_s:.0f}s in all"
        )
        if len(members) < args.members or n_events < args.events:
            say(
                f"NOTE: the {args.budget:.0f}s budget ran out: the room has {len(members)} of"
                f" {args.members} members and {n_events} of {args.events} events"
            )

        friend = await b.register("friend")
        small, _ = await svc.rooms.create.create_room(
            b.requester(owner), CreateRoomRequest.from_json({"preset": "public_chat"})
        )
        await svc.rooms.membership.join(b.requester(friend), small)
        # Warm both rooms (caches) before timing, then interleave the runs so
        # that machine noise hits both alike.
        await b.send_text(owner, big, "warm")
        await b.send_text(owner, small, "warm")
        big_ms: list[float] = []
        small_ms: list[float] = []
        t0 = time.monotonic()
        for _ in range(ROUNDS):
            big_ms += await b.time_sends(owner, big, "large", SAMPLES // ROUNDS)
            small_ms += await b.time_sends(owner, small, "small", SAMPLES // ROUNDS)
            if time.monotonic() - t0 > args.budget / 4:
                say(f"NOTE: timing stopped after {len(big_ms)} sends per room (slow sends)")
                break
        small_events, small_bytes = await stored_bytes(svc, small)

        say("")
        say("| room | members | events | send p50 ms | send p95 ms | stored bytes/event |")
        say("|---|---|---|---|---|---|")
        for name, m, n, nb, ms in (
            ("large", len(members), n_events, n_bytes, big_ms),
            ("fresh", 2, small_events, small_bytes, small_ms),
        ):
            say(
                f"| {name} | {m} | {n} | {percentile(ms, 50):.2f} | {percentile(ms, 95):.2f}"
                f" | {nb / max(n, 1):.0f} |"
            )
        ratio = percentile(big_ms, 50) / percentile(small_ms, 50)
        flat = "stays flat" if ratio < 1.5 else "does NOT stay flat"
        say("")
        say(
            f"send p50 large/fresh = {ratio:.2f}x: send latency {flat}"
            f" ({len(big_ms)} sends per room, interleaved in rounds of {SAMPLES // ROUNDS})"
        )
        # The worst unread count: a member who never read anything.
        reader = members[-1]
        count_ms: list[float] = []
        for _ in range(5):
            t0 = time.perf_counter()
            unread, _ = await svc.push.push_counts(reader, big)
            count_ms.append((time.perf_counter() - t0) * 1000)
        say(
            f"unread count of a member who never read: {unread} notifications,"
            f" counted in {percentile(count_ms, 50):.1f} ms (p50 of 5)"
        )
        total = await total_events(svc)
        say(f"database: {await database_size(svc, url, total)}; backend {url.partition(':')[0]}")
        biggest = largest_tables(url)
        if biggest:
            say(f"largest: {biggest}")
    finally:
        await close_services(svc)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--postgres",
        metavar="DSN",
        help="an empty PostgreSQL database, or 'auto' for a throwaway one",
    )
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--budget", type=float, default=480, help="seconds for building the room (default 480)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cluster = None
    if args.postgres == "auto":
        cluster = PostgresCluster()
        cluster.start()
        args.postgres = cluster.create_database("large_room")
    try:
        asyncio.run(run(args))
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
