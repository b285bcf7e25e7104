"""What users rely on from ``/sync``, as a stateful property of a real server.

A hypothesis state machine drives a real server over HTTP (both backends)
with concurrent senders, joins, leaves, state events, redactions and several
syncing clients per user, each with its own timeline filter and limit, some
of them long-polling while the writes happen. Every client behaves as a
real client does: it appends each room's timeline, and when a room's
timeline is ``limited`` it fetches the gap through ``/messages`` from
``prev_batch`` back to the last event it has.

Checked while running:

- no timeline hands a client an event it already has;
- a gap fetched through ``/messages`` meets the client's newest event (the
  gap never reaches into what it already has).

Checked at the end of each run, once every client has caught up:

- every acknowledged event is in its room's history (nothing lost);
- each client's timeline of a room is exactly the room's history as its
  filter shows it, in order: all of it while the user is joined, up to
  the user's last leave when they have left.

Rooms use ``shared`` history visibility, so a member may read the whole
history, including what was sent while they were away.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from homeserver.app import create_app
from tests.api.conftest import ConfigFactory
from tests.api.helpers import auth_header

T = TypeVar("T")
JsonDict = dict[str, Any]
C = "/_matrix/client/v3"

#: timeline filters a client may use (None: no filter); the type list a
#: filter keeps is applied to the room history to get what a client should see
FILTERS: list[JsonDict | None] = [
    None,
    {"not_types": ["m.test.state"]},
    {"types": ["m.room.message", "m.room.member", "m.room.redaction"]},
]
LIMITS = [1, 2, 3, 5, 10, 50]
POLL_TIMEOUT_MS = 1_500
USERS = 3
ROOMS = 2
#: rooms created during a run, at most
MAX_ROOMS = 4

#: a burst of writes: (user, room, kind) and (user, room) joins or leaves
WRITES = st.lists(
    st.tuples(
        st.integers(0, USERS - 1),
        st.integers(0, MAX_ROOMS - 1),
        st.sampled_from(["message", "message", "state", "redaction"]),
    ),
    min_size=1,
    max_size=20,
)
MOVES = st.lists(st.tuples(st.integers(1, USERS - 1), st.integers(0, MAX_ROOMS - 1)), max_size=2)

_run_ids = itertools.count()


def _keeps(room_filter: JsonDict | None, event_type: str) -> bool:
    if room_filter is None:
        return True
    if "types" in room_filter:
        return event_type in room_filter["types"]
    return event_type not in room_filter.get("not_types", [])


@dataclass
class SyncClient:
    """One device of a user, syncing as a real client does."""

    name: str
    user: int
    token: str
    limit: int
    room_filter: JsonDict | None
    since: str | None = None
    #: room id → event ids in the order the client shows them
    timelines: dict[str, list[str]] = field(default_factory=dict)
    #: room id → event id → type (what the client holds)
    types: dict[str, dict[str, str]] = field(default_factory=dict)
    poll: asyncio.Task[JsonDict] | None = None

    def filter_json(self) -> str:
        timeline: JsonDict = {"limit": self.limit}
        if self.room_filter is not None:
            timeline.update(self.room_filter)
        # include_leave: a client whose first sync comes after a leave still
        # hears of the room (without it, left rooms are not in an initial sync).
        return json.dumps({"room": {"timeline": timeline, "include_leave": True}})


@dataclass
class Harness:
    """A real server on its own event loop, shared by every run of the machine."""

    loop: asyncio.AbstractEventLoop
    http: TestClient[Any, Any]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 60))

    async def call(
        self, method: str, path: str, token: str | None = None, body: JsonDict | None = None
    ) -> tuple[int, JsonDict]:
        headers = auth_header(token) if token is not None else {}
        resp = await self.http.request(method, path, headers=headers, json=body)
        data: JsonDict = await resp.json()
        return resp.status, data


class SyncMachine(RuleBasedStateMachine):
    harness: Harness

    def __init__(self) -> None:
        super().__init__()
        self.run_id = next(_run_ids)
        self.txn = itertools.count()
        self.users: list[str] = []
        self.tokens: list[str] = []
        self.rooms: list[str] = []
        #: (user index, room id) → joined
        self.joined: dict[tuple[int, str], bool] = {}
        #: room id → every acknowledged event id
        self.sent: dict[str, set[str]] = {}
        #: room id → event ids that may be redacted
        self.messages: dict[str, list[str]] = {}
        self.clients: list[SyncClient] = []

    # --- set-up ------------------------------------------------------------------

    @initialize(
        devices=st.lists(
            st.tuples(st.integers(0, USERS - 1), st.sampled_from(LIMITS), st.sampled_from(FILTERS)),
            min_size=2,
            max_size=4,
        )
    )
    def set_up(self, devices: list[tuple[int, int, JsonDict | None]]) -> None:
        self.harness.run(self._set_up(devices))

    async def _set_up(self, devices: list[tuple[int, int, JsonDict | None]]) -> None:
        h = self.harness
        for i in range(USERS):
            status, data = await h.call(
                "POST",
                f"{C}/register",
                body={
                    "username": f"u{self.run_id}x{i}",
                    "password": "password-123",
                    "auth": {"type": "m.login.dummy"},
                },
            )
            assert status == 200, data
            self.users.append(data["user_id"])
            self.tokens.append(data["access_token"])
        for _ in range(ROOMS):
            await self._create_room()
        for n, (user, limit, room_filter) in enumerate(devices):
            status, data = await h.call(
                "POST",
                f"{C}/login",
                body={
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": self.users[user]},
                    "password": "password-123",
                },
            )
            assert status == 200, data
            self.clients.append(SyncClient(f"c{n}", user, data["access_token"], limit, room_filter))

    async def _create_room(self) -> None:
        status, data = await self.harness.call(
            "POST",
            f"{C}/createRoom",
            self.tokens[0],
            {
                "preset": "public_chat",
                "initial_state": [
                    {
                        "type": "m.room.history_visibility",
                        "state_key": "",
                        "content": {"history_visibility": "shared"},
                    }
                ],
                # Everyone may send state and redact others' events.
                "power_level_content_override": {"state_default": 0, "redact": 0},
            },
        )
        assert status == 200, data
        room_id = data["room_id"]
        self.rooms.append(room_id)
        self.sent[room_id] = set()
        self.messages[room_id] = []
        self.joined[(0, room_id)] = True

    # --- writes ------------------------------------------------------------------

    @precondition(lambda self: 0 < len(self.rooms) < MAX_ROOMS)
    @rule()
    def create_room(self) -> None:
        """A new room while clients sync: it comes to the creator's clients."""
        self.harness.run(self._create_room())

    @rule(user=st.integers(1, USERS - 1), r=st.integers(0, MAX_ROOMS - 1))
    def kick(self, user: int, r: int) -> None:
        """The owner removes a member: the member's history stops there."""
        if not self.rooms:
            return
        room_id = self.rooms[r % len(self.rooms)]
        if not self._is_joined(user, room_id):
            return

        async def kick() -> None:
            status, data = await self.harness.call(
                "POST",
                f"{C}/rooms/{room_id}/kick",
                self.tokens[0],
                {"user_id": self.users[user], "reason": "test"},
            )
            assert status == 200, data
            self.joined[(user, room_id)] = False

        self.harness.run(kick())

    def _is_joined(self, user: int, room_id: str) -> bool:
        return self.joined.get((user, room_id), False)

    async def _send(self, user: int, room_id: str, kind: str, n: int) -> None:
        h = self.harness
        token = self.tokens[user]
        txn = f"t{next(self.txn)}"
        if kind == "message":
            path = f"{C}/rooms/{room_id}/send/m.room.message/{txn}"
            status, data = await h.call("PUT", path, token, {"msgtype": "m.text", "body": f"{n}"})
        elif kind == "state":
            path = f"{C}/rooms/{room_id}/state/m.test.state/k{n % 3}"
            status, data = await h.call("PUT", path, token, {"n": n})
        else:
            targets = self.messages[room_id]
            if not targets:
                return
            target = targets[n % len(targets)]
            path = f"{C}/rooms/{room_id}/redact/{quote(target)}/{txn}"
            status, data = await h.call("PUT", path, token, {"reason": "test"})
        assert status == 200, (kind, data)
        self.sent[room_id].add(data["event_id"])
        if kind == "message":
            self.messages[room_id].append(data["event_id"])

    async def _membership(self, user: int, room_id: str, join: bool) -> None:
        verb = "join" if join else "leave"
        status, data = await self.harness.call(
            "POST", f"{C}/rooms/{room_id}/{verb}", self.tokens[user], {}
        )
        assert status == 200, data
        self.joined[(user, room_id)] = join

    @rule(writes=WRITES, moves=MOVES)
    def concurrent_writes(
        self, writes: list[tuple[int, int, str]], moves: list[tuple[int, int]]
    ) -> None:
        """Sends, state, redactions and joins or leaves, all at once."""
        moving = {(u, self.rooms[r % len(self.rooms)]) for u, r in moves}
        jobs: list[Coroutine[Any, Any, None]] = []
        for user, room_id in moving:
            jobs.append(self._membership(user, room_id, not self._is_joined(user, room_id)))
        for n, (user, r, kind) in enumerate(writes):
            room_id = self.rooms[r % len(self.rooms)]
            if (user, room_id) in moving or not self._is_joined(user, room_id):
                continue
            jobs.append(self._send(user, room_id, kind, n))

        async def all_at_once() -> None:
            await asyncio.gather(*jobs)

        self.harness.run(all_at_once())

    @rule(writes=WRITES, moves=MOVES)
    def more_concurrent_writes(
        self, writes: list[tuple[int, int, str]], moves: list[tuple[int, int]]
    ) -> None:
        """The same again, so that writes are drawn as often as the other rules."""
        self.concurrent_writes(writes, moves)

    # --- clients -----------------------------------------------------------------

    @rule(data=st.data())
    def start_long_poll(self, data: st.DataObject) -> None:
        idle = [c for c in self.clients if c.poll is None and c.since is not None]
        if not idle:
            return
        client = data.draw(st.sampled_from(idle))
        client.poll = self.harness.loop.create_task(self._sync(client, POLL_TIMEOUT_MS))

    @rule(data=st.data())
    def sync_now(self, data: st.DataObject) -> None:
        client = data.draw(st.sampled_from(self.clients))
        self.harness.run(self._sync_and_apply(client))

    async def _sync_and_apply(self, client: SyncClient) -> None:
        if client.poll is not None:
            poll, client.poll = client.poll, None
            await self._apply(client, await poll)
        else:
            await self._apply(client, await self._sync(client, 0))

    async def _sync(self, client: SyncClient, timeout_ms: int) -> JsonDict:
        query = f"timeout={timeout_ms}&filter={quote(client.filter_json())}"
        if client.since is not None:
            query += f"&since={quote(client.since)}"
        status, data = await self.harness.call("GET", f"{C}/sync?{query}", client.token)
        assert status == 200, data
        return data

    async def _apply(self, client: SyncClient, body: JsonDict) -> None:
        """Takes in a response as a client would, filling gaps through /messages."""
        client.since = body["next_batch"]
        rooms = body["rooms"]
        for section in ("join", "leave"):
            for room_id, room in rooms.get(section, {}).items():
                timeline = room.get("timeline", {})
                events = timeline.get("events", [])
                known = client.timelines.setdefault(room_id, [])
                types = client.types.setdefault(room_id, {})
                if timeline.get("limited"):
                    gap = await self._fill_gap(client, room_id, timeline["prev_batch"])
                    for event_id, event_type in gap:
                        known.append(event_id)
                        types[event_id] = event_type
                for event in events:
                    event_id = event["event_id"]
                    assert event_id not in types, (
                        f"{client.name}: {event_id} delivered twice in {room_id}"
                    )
                    assert _keeps(client.room_filter, event["type"]), (client.name, event)
                    known.append(event_id)
                    types[event_id] = event["type"]

    async def _fill_gap(
        self, client: SyncClient, room_id: str, prev_batch: str
    ) -> list[tuple[str, str]]:
        """The events between the client's newest one and ``prev_batch``, oldest first."""
        known = client.timelines.get(room_id, [])
        newest = known[-1] if known else None
        found: list[tuple[str, str]] = []
        token: str | None = prev_batch
        room_filter = quote(json.dumps(client.room_filter or {}))
        while token is not None:
            path = (
                f"{C}/rooms/{room_id}/messages?dir=b&limit=7"
                f"&from={quote(token)}&filter={room_filter}"
            )
            status, data = await self.harness.call("GET", path, client.token)
            assert status == 200, data
            for event in data["chunk"]:
                event_id = event["event_id"]
                if event_id in client.types.get(room_id, {}):
                    assert event_id == newest, (
                        f"{client.name}: gap in {room_id} reached {event_id}, "
                        f"not the newest known {newest}"
                    )
                    return found[::-1]
                found.append((event_id, event["type"]))
            token = data.get("end") if data["chunk"] else None
        assert newest is None, f"{client.name}: gap in {room_id} never met {newest}"
        return found[::-1]

    @invariant()
    def timelines_hold_no_duplicates(self) -> None:
        for client in self.clients:
            for room_id, events in client.timelines.items():
                assert len(events) == len(set(events)), (client.name, room_id)

    # --- the end: everyone catches up ----------------------------------------------

    def teardown(self) -> None:
        if self.clients:
            self.harness.run(self._check_everything())

    async def _history(self, room_id: str) -> list[tuple[str, str, JsonDict]]:
        """The room's whole history, oldest first, as its creator reads it."""
        events: list[tuple[str, str, JsonDict]] = []
        token: str | None = None
        while True:
            path = f"{C}/rooms/{room_id}/messages?dir=b&limit=100"
            if token is not None:
                path += f"&from={quote(token)}"
            status, data = await self.harness.call("GET", path, self.tokens[0])
            assert status == 200, data
            for event in data["chunk"]:
                events.append((event["event_id"], event["type"], event))
            token = data.get("end")
            if token is None or not data["chunk"]:
                return events[::-1]

    async def _check_everything(self) -> None:
        for client in self.clients:
            if client.poll is not None:
                poll, client.poll = client.poll, None
                await self._apply(client, await poll)
            # Two quiet rounds: the second must bring nothing new.
            for _ in range(2):
                await self._apply(client, await self._sync(client, 0))
        for room_id in self.rooms:
            history = await self._history(room_id)
            ids = [event_id for event_id, _, _ in history]
            assert len(ids) == len(set(ids)), f"/messages repeats events in {room_id}"
            missing = self.sent[room_id] - set(ids)
            assert not missing, f"acknowledged events missing from {room_id}: {missing}"
            for client in self.clients:
                user_id = self.users[client.user]
                expected = [
                    event_id
                    for event_id, event_type, _ in history
                    if _keeps(client.room_filter, event_type)
                ]
                if not self._is_joined(client.user, room_id):
                    leaves = [
                        i
                        for i, (event_id, event_type, event) in enumerate(history)
                        if event_type == "m.room.member"
                        and event.get("state_key") == user_id
                        and event["content"].get("membership") == "leave"
                    ]
                    if not leaves:
                        assert room_id not in client.timelines or not client.timelines[room_id]
                        continue
                    last_leave = history[leaves[-1]][0]
                    expected = expected[: expected.index(last_leave) + 1]
                got = client.timelines.get(room_id, [])
                assert got == expected, _diff(client.name, room_id, got, expected)


def _diff(name: str, room_id: str, got: list[str], expected: list[str]) -> str:
    missing = [e for e in expected if e not in got]
    extra = [e for e in got if e not in expected]
    return (
        f"{name} in {room_id}: {len(got)} events, expected {len(expected)}; "
        f"missing {missing[:5]}, extra {extra[:5]}, order differs: {not missing and not extra}"
    )


def _machine_on(harness: Harness) -> type[SyncMachine]:
    return type("SyncMachineOnServer", (SyncMachine,), {"harness": harness})


def _with_server(make_config: ConfigFactory, body: Callable[[Harness], None]) -> None:
    loop = asyncio.new_event_loop()
    try:
        app = create_app(make_config())
        http: TestClient[Any, Any] = TestClient(TestServer(app), loop=loop)
        loop.run_until_complete(http.start_server())
        harness = Harness(loop, http)
        try:
            body(harness)
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.run_until_complete(http.close())
    finally:
        loop.close()


@pytest.mark.timeout(600)
def test_every_visible_event_reaches_each_client_once_in_order(
    make_config: ConfigFactory,
) -> None:
    def check(harness: Harness) -> None:
        run_state_machine_as_test(
            _machine_on(harness),
            settings=settings(
                max_examples=20,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            ),
        )

    _with_server(make_config, check)
