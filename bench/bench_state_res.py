"""Times state resolution and the auth rules on a large forked room.

Builds a room with 10,000 state events, forks it, changes 1,000 state keys
differently on each branch (so 1,000 conflicted entries), then times
``resolve_state`` over the two branch states, and ``check_auth_rules`` on a
typical message event. Prints the figures; not a test.

Run from the repository root: ``python3 bench/bench_state_res.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homeserver.core.auth import check_auth_rules
from homeserver.core.room_versions import V10, V12, RoomVersion
from homeserver.core.state_res import resolve_state, state_set_auth_chain
from tests.core.roomdsl import ALICE, RoomBuilder

STATE_EVENTS = 10_000
CONFLICTED = 1_000
MEMBERS = 1_000


def build(room_version: RoomVersion) -> tuple[RoomBuilder, RoomBuilder]:
    room = RoomBuilder(room_version, ALICE, check=False)
    for n in range(MEMBERS):
        room.join(f"@user{n}:example.org")
    for n in range(STATE_EVENTS - MEMBERS - 4):
        room.send(ALICE, "org.example.setting", {"n": n}, state_key=f"k{n}")
    left, right = room, room.fork()
    for n in range(CONFLICTED):
        key = f"k{n}"
        left.send(ALICE, "org.example.setting", {"n": n, "side": "left"}, state_key=key)
        right.send(ALICE, "org.example.setting", {"n": n, "side": "right"}, state_key=key)
    return left, right


def main() -> None:
    for room_version in (V10, V12):
        started = time.perf_counter()
        left, right = build(room_version)
        built = time.perf_counter() - started
        sets = [
            {key: pdu.event_id for key, pdu in branch.state.items()} for branch in (left, right)
        ]
        events = left.all_events
        print(
            f"room v{room_version.identifier}: {len(sets[0])} state entries, "
            f"{len(events)} events, built in {built:.2f}s"
        )

        runs = 5
        started = time.perf_counter()
        for _ in range(runs):
            resolved = resolve_state(room_version, sets, events)
        per_run = (time.perf_counter() - started) / runs
        print(f"  resolve_state, {CONFLICTED} conflicted: {per_run * 1000:.1f} ms")

        chains = [state_set_auth_chain(s, events) for s in sets]
        started = time.perf_counter()
        for _ in range(runs):
            resolve_state(room_version, sets, events, chains)
        per_run = (time.perf_counter() - started) / runs
        print(f"  resolve_state with precomputed auth chains: {per_run * 1000:.1f} ms")
        assert len(resolved) == len(sets[0])

        message = left.propose("@user1:example.org", "m.room.message", {"body": "hi"})
        n = 20_000
        started = time.perf_counter()
        for _ in range(n):
            check_auth_rules(message, left.state)
        rate = n / (time.perf_counter() - started)
        print(f"  check_auth_rules on a message: {rate:,.0f} checks/s")


if __name__ == "__main__":
    main()
