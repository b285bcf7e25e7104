"""The scenarios: one async function each, filling in a :class:`ScenarioResult`.

A scenario measures something, checks that what it measured is real (the
event that /sync returned is the one that was sent, a downloaded file has the
uploaded bytes, a /messages page holds the last 100 events in order), and
records every failed request or failed check as an error: nothing is skipped
silently. A server that does not implement an endpoint yet gets a clear
"not implemented" error for the scenarios that need it.

Setup (registering users, creating the rooms a scenario needs) is not timed.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

from bench.driver import Http, RequestFailed, User, register, timeline_events

Better = Literal["lower", "higher"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    send_latency_count: int
    throughput_senders: int
    throughput_messages: int
    e2e_count: int
    fanout_clients: int
    fanout_messages: int
    room_creation_count: int
    initial_sync_rooms: int
    initial_sync_repeats: int
    incremental_sync_repeats: int
    joins_count: int
    messages_history: int
    messages_repeats: int
    media_count: int
    media_mib: int
    #: Long-polling /sync requests held open at once by as many users (idle_longpolls).
    idle_longpolls: int
    #: Each scenario stops (and says so) after this long.
    scenario_timeout_s: float


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        send_latency_count=200,
        throughput_senders=20,
        throughput_messages=50,
        e2e_count=50,
        fanout_clients=200,
        fanout_messages=5,
        room_creation_count=50,
        initial_sync_rooms=200,
        initial_sync_repeats=5,
        incremental_sync_repeats=100,
        joins_count=100,
        messages_history=200,
        messages_repeats=10,
        media_count=8,
        media_mib=4,
        idle_longpolls=500,
        scenario_timeout_s=180,
    ),
    "full": Profile(
        name="full",
        send_latency_count=2000,
        throughput_senders=20,
        throughput_messages=250,
        e2e_count=300,
        fanout_clients=200,
        fanout_messages=20,
        room_creation_count=200,
        initial_sync_rooms=200,
        initial_sync_repeats=20,
        incremental_sync_repeats=500,
        joins_count=200,
        messages_history=500,
        messages_repeats=50,
        media_count=20,
        media_mib=16,
        idle_longpolls=1000,
        scenario_timeout_s=900,
    ),
}


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: float
    unit: str
    better: Better


class ScenarioAborted(Exception):
    """Stops a scenario early (an unimplemented endpoint, or too many errors)."""


@dataclass(slots=True)
class ScenarioResult:
    name: str
    metrics: list[Metric] = field(default_factory=list)
    #: Named series of samples (milliseconds unless the name says otherwise), for the plots.
    samples: dict[str, list[float]] = field(default_factory=dict)
    #: Distinct error messages with how often each happened.
    errors: dict[str, int] = field(default_factory=dict)
    #: What was verified, in words (for the report).
    checks: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    max_errors: int = 50

    @property
    def valid(self) -> bool:
        return not self.errors and bool(self.metrics)

    def error(self, message: str) -> None:
        self.errors[message] = self.errors.get(message, 0) + 1
        if sum(self.errors.values()) >= self.max_errors:
            raise ScenarioAborted(f"stopped after {self.max_errors} errors")

    def request_failed(self, exc: RequestFailed) -> None:
        """Records a failed request; an unimplemented endpoint ends the scenario."""
        if exc.unimplemented:
            self.errors[f"not implemented by this server: {exc}"] = 1
            raise ScenarioAborted(str(exc))
        self.error(str(exc))

    def check(self, ok: bool, what: str) -> bool:
        """Records a validity check; a failed one is an error."""
        if ok:
            if what not in self.checks:
                self.checks.append(what)
        else:
            self.error(f"check failed: {what}")
        return ok

    def latency(self, label: str, samples_ms: list[float], better: Better = "lower") -> None:
        """Stores the samples and their p50/p95/p99 as metrics."""
        self.samples[label] = samples_ms
        if not samples_ms:
            return
        for p in (50, 95, 99):
            self.metrics.append(Metric(f"{label} p{p}", percentile(samples_ms, p), "ms", better))

    def metric(self, name: str, value: float, unit: str, better: Better) -> None:
        self.metrics.append(Metric(name, value, unit, better))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "valid": self.valid,
            "duration_s": round(self.duration_s, 3),
            "metrics": [
                {"name": m.name, "value": m.value, "unit": m.unit, "better": m.better}
                for m in self.metrics
            ],
            "errors": [{"message": k, "count": v} for k, v in self.errors.items()],
            "checks": self.checks,
            "samples": {k: [round(x, 3) for x in v] for k, v in self.samples.items()},
        }


def percentile(values: Iterable[float], p: float) -> float:
    """The p-th percentile with linear interpolation between closest ranks."""
    data = sorted(values)
    if not data:
        return math.nan
    k = (len(data) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


# ---------------------------------------------------------------- context


@dataclass(slots=True)
class Context:
    """What the scenarios of one server share: the HTTP client and a pool of users."""

    http: Http
    shared_secret: str | None
    profile: Profile
    run_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _next_user: int = 0
    pool: list[User] = field(default_factory=list)
    #: The user of room_creation/initial_sync/incremental_sync and the rooms it is in.
    big_user: User | None = None
    big_rooms: list[str] = field(default_factory=list)
    big_rooms_with_message: set[str] = field(default_factory=set)
    #: The server process's resident memory in KiB (None when it cannot be read).
    rss_kib: Callable[[], int | None] | None = None

    async def new_user(self) -> User:
        self._next_user += 1
        name = f"b{self.run_tag}u{self._next_user}"
        account = await register(self.http, name, f"pw-{name}-bench", self.shared_secret)
        return User(self.http, account)

    async def users(self, n: int) -> list[User]:
        """The first n users of the shared pool, registering the missing ones (untimed)."""
        missing = n - len(self.pool)
        if missing > 0:
            made = await bounded_gather([self.new_user for _ in range(missing)], limit=8)
            self.pool.extend(made)
        return self.pool[:n]


async def bounded_gather(factories: list[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Runs the calls with at most ``limit`` in flight; the first failure is raised."""
    sem = asyncio.Semaphore(limit)

    async def one(factory: Callable[[], Awaitable[T]]) -> T:
        async with sem:
            return await factory()

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(one(f)) for f in factories]
    return [t.result() for t in tasks]


def ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _body(event: dict[str, Any]) -> str | None:
    content = event.get("content")
    if isinstance(content, dict) and isinstance(content.get("body"), str):
        return str(content["body"])
    return None


async def collect_history(
    user: User, room_id: str, prefix: str, want: int
) -> list[tuple[str, str]]:
    """Pages /messages backwards: (event id, body) of the messages whose body starts with prefix.

    Stops once ``want`` are found or history ends. Oldest first.
    """
    found: list[tuple[str, str]] = []
    token: str | None = None
    for _ in range(want // 100 + 20):
        page = await user.messages(room_id, limit=100, from_token=token)
        chunk = page.get("chunk", [])
        for ev in chunk:
            body = _body(ev)
            if body is not None and body.startswith(prefix):
                found.append((str(ev.get("event_id")), body))
        token = page.get("end")
        if not chunk or not isinstance(token, str) or len(found) >= want:
            break
    found.reverse()
    return found


# ---------------------------------------------------------------- scenarios


async def send_latency(ctx: Context, res: ScenarioResult) -> None:
    """One user sends messages one after another into one room: time per send."""
    user = (await ctx.users(1))[0]
    room = await user.create_room()
    samples: list[float] = []
    sent: list[tuple[str, str]] = []
    prefix = f"lat-{uuid.uuid4().hex[:6]}"
    for i in range(ctx.profile.send_latency_count):
        body = f"{prefix} {i}"
        t0 = time.perf_counter()
        try:
            event_id = await user.send_text(room, body)
        except RequestFailed as exc:
            res.request_failed(exc)
            continue
        samples.append(ms_since(t0))
        sent.append((event_id, body))
    res.latency("send", samples)
    res.check(len({e for e, _ in sent}) == len(sent), "every send returned a distinct event id")
    last = sent[-100:]
    history = await collect_history(user, room, prefix, len(last))
    res.check(history[-len(last) :] == last, "/messages holds the sent events, in order")


async def _throughput(ctx: Context, res: ScenarioResult, *, shared_room: bool) -> None:
    n, m = ctx.profile.throughput_senders, ctx.profile.throughput_messages
    senders = await ctx.users(n)
    if shared_room:
        room = await senders[0].create_room(preset="public_chat")
        await bounded_gather([partial(u.join, room) for u in senders[1:]], limit=4)
        rooms = [room] * n
    else:
        rooms = await bounded_gather([u.create_room for u in senders], limit=4)
    prefix = f"tp-{uuid.uuid4().hex[:6]}"
    sent: dict[int, list[tuple[str, str]]] = {i: [] for i in range(n)}
    per_send: list[float] = []

    async def sender(i: int) -> None:
        for k in range(m):
            body = f"{prefix} {i} {k}"
            t0 = time.perf_counter()
            try:
                event_id = await senders[i].send_text(rooms[i], body)
            except RequestFailed as exc:
                res.request_failed(exc)
                continue
            per_send.append(ms_since(t0))
            sent[i].append((event_id, body))

    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for i in range(n):
            tg.create_task(sender(i))
    wall = time.perf_counter() - t0
    ok = sum(len(v) for v in sent.values())
    res.metric("events/s", ok / wall, "events/s", "higher")
    res.latency("send under load", per_send)
    all_ids = [e for v in sent.values() for e, _ in v]
    res.check(len(set(all_ids)) == n * m, f"{n * m} sends returned {n * m} distinct event ids")
    if shared_room:
        history = await collect_history(senders[0], rooms[0], prefix, n * m)
        res.check(
            {e for e, _ in history} == set(all_ids),
            "/messages of the room holds exactly the sent events",
        )
        for i in range(n):
            mine = [h for h in history if h[1].startswith(f"{prefix} {i} ")]
            res.check(mine == sent[i], "each sender's events appear in the order it sent them")
    else:
        for i in range(n):
            history = await collect_history(senders[i], rooms[i], prefix, m)
            res.check(
                history == sent[i], "/messages of each room holds its sender's events, in order"
            )


async def send_throughput_one_room(ctx: Context, res: ScenarioResult) -> None:
    """N users send M messages each, concurrently, into one shared room."""
    await _throughput(ctx, res, shared_room=True)


async def send_throughput_room_each(ctx: Context, res: ScenarioResult) -> None:
    """N users send M messages each, concurrently, each into a room of its own."""
    await _throughput(ctx, res, shared_room=False)


class SyncFollower:
    """A user long-polling /sync in a loop; reports timeline events of one room by body."""

    def __init__(
        self,
        user: User,
        room_id: str,
        since: str,
        on_event: Callable[[User, dict[str, Any], float], None],
        res: ScenarioResult,
    ) -> None:
        self.user = user
        self.room_id = room_id
        self.since = since
        self.on_event = on_event
        self.res = res
        self.polls = 0

    async def run(self) -> None:
        while True:
            try:
                body = await self.user.sync(self.since, timeout_ms=30_000)
            except RequestFailed as exc:
                self.res.request_failed(exc)
                await asyncio.sleep(0.5)
                continue
            now = time.perf_counter()
            self.polls += 1
            self.since = body["next_batch"]
            for _, ev in timeline_events(body, self.room_id):
                self.on_event(self.user, ev, now)


async def e2e_latency(ctx: Context, res: ScenarioResult) -> None:
    """Alice sends; time until Bob's waiting /sync returns that very event."""
    alice, bob = await ctx.users(2)
    room = await alice.create_room(preset="public_chat")
    await bob.join(room)
    since = (await bob.sync())["next_batch"]
    waiting: dict[str, asyncio.Future[tuple[dict[str, Any], float]]] = {}

    def on_event(_: User, ev: dict[str, Any], at: float) -> None:
        fut = waiting.get(_body(ev) or "")
        if fut is not None and not fut.done():
            fut.set_result((ev, at))

    follower = SyncFollower(bob, room, since, on_event, res)
    samples: list[float] = []
    prefix = f"e2e-{uuid.uuid4().hex[:6]}"
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(follower.run())
        await asyncio.sleep(0.3)  # let the first long-poll park on the server
        try:
            for i in range(ctx.profile.e2e_count):
                body = f"{prefix} {i}"
                fut: asyncio.Future[tuple[dict[str, Any], float]] = (
                    asyncio.get_running_loop().create_future()
                )
                waiting[body] = fut
                t0 = time.perf_counter()
                try:
                    event_id = await alice.send_text(room, body)
                except RequestFailed as exc:
                    res.request_failed(exc)
                    continue
                try:
                    ev, at = await asyncio.wait_for(fut, timeout=15)
                except TimeoutError:
                    res.error("the sent event did not arrive through /sync within 15 s")
                    continue
                samples.append((at - t0) * 1000)
                res.check(
                    ev.get("event_id") == event_id, "the synced event has the sent event's id"
                )
                res.check(
                    ev.get("sender") == alice.user_id, "the synced event has the sender's user id"
                )
                await asyncio.sleep(0.02)  # let Bob's next long-poll park before the next send
        finally:
            task.cancel()
    res.latency("send to sync", samples)


async def fanout(ctx: Context, res: ScenarioResult) -> None:
    """200 users long-poll /sync in one room; one sends: time until each receives it."""
    n = ctx.profile.fanout_clients
    sender = await ctx.new_user()
    await sender.sync()  # fail fast, before the long setup, when /sync is missing
    room = await sender.create_room(preset="public_chat")
    recipients = await ctx.users(n)
    await bounded_gather([partial(u.join, room) for u in recipients], limit=8)
    tokens = await bounded_gather([u.sync for u in recipients], limit=8)

    sent_at: dict[str, tuple[str, float]] = {}
    got: dict[str, set[str]] = {}
    all_in: dict[str, asyncio.Event] = {}
    per_recipient: list[float] = []
    mismatched = 0

    def on_event(user: User, ev: dict[str, Any], at: float) -> None:
        nonlocal mismatched
        body = _body(ev) or ""
        if body not in sent_at:
            return
        event_id, t0 = sent_at[body]
        if ev.get("event_id") != event_id or ev.get("sender") != sender.user_id:
            mismatched += 1
            return
        if user.user_id in got[body]:
            return
        got[body].add(user.user_id)
        per_recipient.append((at - t0) * 1000)
        if len(got[body]) == n:
            all_in[body].set()

    followers = [
        SyncFollower(u, room, t["next_batch"], on_event, res)
        for u, t in zip(recipients, tokens, strict=True)
    ]
    last_delivered: list[float] = []
    prefix = f"fan-{uuid.uuid4().hex[:6]}"
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(f.run()) for f in followers]
        try:
            await asyncio.sleep(1.0)  # let all long-polls park
            for i in range(ctx.profile.fanout_messages):
                body = f"{prefix} {i}"
                got[body] = set()
                all_in[body] = asyncio.Event()
                t0 = time.perf_counter()
                sent_at[body] = ("", t0)
                try:
                    event_id = await sender.send_text(room, body)
                except RequestFailed as exc:
                    res.request_failed(exc)
                    continue
                sent_at[body] = (event_id, t0)
                try:
                    await asyncio.wait_for(all_in[body].wait(), timeout=30)
                    last_delivered.append(ms_since(t0))
                except TimeoutError:
                    res.error(
                        f"{n - len(got[body])} of {n} clients did not receive a message within 30 s"
                    )
                await asyncio.sleep(0.5)  # let the long-polls park again
        finally:
            for t in tasks:
                t.cancel()
    res.latency("delivery to each client", per_recipient)
    res.latency("delivery to all clients", last_delivered)
    res.check(mismatched == 0, "every delivered event has the sent event's id and sender")


async def _ensure_big_user(ctx: Context) -> User:
    if ctx.big_user is None:
        ctx.big_user = await ctx.new_user()
    return ctx.big_user


async def room_creation(ctx: Context, res: ScenarioResult) -> None:
    """One user creates rooms one after another: time per /createRoom."""
    user = await _ensure_big_user(ctx)
    samples: list[float] = []
    for i in range(ctx.profile.room_creation_count):
        t0 = time.perf_counter()
        try:
            room = await user.create_room(name=f"bench room {i}")
        except RequestFailed as exc:
            res.request_failed(exc)
            continue
        samples.append(ms_since(t0))
        ctx.big_rooms.append(room)
    res.latency("createRoom", samples)
    res.check(
        len(set(ctx.big_rooms)) == len(ctx.big_rooms), "every createRoom returned a new room id"
    )


async def _big_user_in_rooms(ctx: Context, rooms: int) -> User:
    """The big user, joined to ``rooms`` rooms with one message each (untimed setup)."""
    user = await _ensure_big_user(ctx)
    missing = rooms - len(ctx.big_rooms)
    if missing > 0:
        made = await bounded_gather([user.create_room for _ in range(missing)], limit=4)
        ctx.big_rooms.extend(made)
    todo = [r for r in ctx.big_rooms if r not in ctx.big_rooms_with_message]
    await bounded_gather([partial(user.send_text, r, f"hello {r}") for r in todo], limit=4)
    ctx.big_rooms_with_message.update(todo)
    return user


async def initial_sync(ctx: Context, res: ScenarioResult) -> None:
    """A /sync without ``since`` for a user in 200 rooms."""
    user = await _big_user_in_rooms(ctx, ctx.profile.initial_sync_rooms)
    samples: list[float] = []
    for i in range(ctx.profile.initial_sync_repeats):
        t0 = time.perf_counter()
        # A different (immaterial) timeout each time, so that Synapse's 2-minute sync
        # response cache, keyed on the request parameters, does not answer repeats.
        try:
            body = await user.sync(None, timeout_ms=i)
        except RequestFailed as exc:
            res.request_failed(exc)
            continue
        samples.append(ms_since(t0))
        joined = body.get("rooms", {}).get("join", {})
        res.check(
            set(ctx.big_rooms) <= set(joined), f"all {len(ctx.big_rooms)} rooms are in rooms.join"
        )
        with_message = {rid for rid, ev in timeline_events(body) if _body(ev) == f"hello {rid}"}
        res.check(with_message >= set(ctx.big_rooms), "each room's timeline ends with its message")
    res.latency("initial sync", samples)


async def incremental_sync(ctx: Context, res: ScenarioResult) -> None:
    """A /sync with ``since`` and timeout=0 when nothing happened, for the user in 200 rooms."""
    user = await _big_user_in_rooms(ctx, ctx.profile.initial_sync_rooms)
    since = (await user.sync())["next_batch"]
    samples: list[float] = []
    for _ in range(ctx.profile.incremental_sync_repeats):
        t0 = time.perf_counter()
        try:
            body = await user.sync(since, timeout_ms=0)
        except RequestFailed as exc:
            res.request_failed(exc)
            continue
        samples.append(ms_since(t0))
        res.check(not timeline_events(body), "nothing new comes back")
        since = body["next_batch"]
    res.latency("empty incremental sync", samples)


async def joins(ctx: Context, res: ScenarioResult) -> None:
    """Users join one public room one after another: time per /join."""
    owner = await ctx.new_user()
    room = await owner.create_room(preset="public_chat")
    joiners = await ctx.users(ctx.profile.joins_count)
    samples: list[float] = []
    for u in joiners:
        t0 = time.perf_counter()
        try:
            got = await u.join(room)
        except RequestFailed as exc:
            res.request_failed(exc)
            continue
        samples.append(ms_since(t0))
        res.check(got == room, "/join answers with the room id")
    res.latency("join", samples)
    members = await owner.joined_members(room)
    expected = {owner.user_id} | {u.user_id for u in joiners}
    res.check(members == expected, "joined_members lists exactly the owner and the joiners")


async def messages_page(ctx: Context, res: ScenarioResult) -> None:
    """GET /messages?dir=b&limit=100: the latest page, and the page before it."""
    user = await ctx.new_user()
    room = await user.create_room()
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    sent = []
    for i in range(ctx.profile.messages_history):
        body = f"{prefix} {i}"
        sent.append((await user.send_text(room, body), body))
    newest = list(reversed(sent[-100:]))
    older = list(reversed(sent[-200:-100]))
    latest_ms: list[float] = []
    older_ms: list[float] = []
    for _ in range(ctx.profile.messages_repeats):
        t0 = time.perf_counter()
        try:
            page = await user.messages(room, limit=100)
        except RequestFailed as exc:
            res.request_failed(exc)
            continue
        latest_ms.append(ms_since(t0))
        chunk = [(str(ev.get("event_id")), _body(ev)) for ev in page.get("chunk", [])]
        res.check(chunk == newest, "the latest page holds the last 100 events, newest first")
        token = page.get("end")
        if not res.check(isinstance(token, str), "the page has an end token"):
            continue
        t0 = time.perf_counter()
        try:
            page = await user.messages(room, limit=100, from_token=token)
        except RequestFailed as exc:
            res.request_failed(exc)
            continue
        older_ms.append(ms_since(t0))
        chunk = [(str(ev.get("event_id")), _body(ev)) for ev in page.get("chunk", [])]
        res.check(chunk[: len(older)] == older, "the page before holds the 100 events before those")
    res.latency("latest page", latest_ms)
    res.latency("older page", older_ms)


async def media(ctx: Context, res: ScenarioResult) -> None:
    """Upload then download files (authenticated media): MB/s each way."""
    user = (await ctx.users(1))[0]
    size = ctx.profile.media_mib * 1024 * 1024
    blobs = [os.urandom(size) for _ in range(ctx.profile.media_count)]
    up_s = down_s = 0.0
    up_n = down_n = 0
    up_ms: list[float] = []
    down_ms: list[float] = []
    for blob in blobs:
        t0 = time.perf_counter()
        try:
            mxc = await user.upload(blob)
        except RequestFailed as exc:
            res.request_failed(exc)
            continue
        up_ms.append(ms_since(t0))
        up_s += up_ms[-1] / 1000
        up_n += 1
        t0 = time.perf_counter()
        try:
            data = await user.download(mxc)
        except RequestFailed as exc:
            res.request_failed(exc)
            continue
        down_ms.append(ms_since(t0))
        down_s += down_ms[-1] / 1000
        down_n += 1
        res.check(
            hashlib.sha256(data).digest() == hashlib.sha256(blob).digest(),
            "downloaded bytes equal the uploaded bytes",
        )
    mb = size / 1_000_000
    if up_n:
        res.metric("upload", up_n * mb / up_s, "MB/s", "higher")
    if down_n:
        res.metric("download", down_n * mb / down_s, "MB/s", "higher")
    res.samples[f"upload {ctx.profile.media_mib} MiB"] = up_ms
    res.samples[f"download {ctx.profile.media_mib} MiB"] = down_ms


async def _mean_rss_kib(ctx: Context, samples: int, every_s: float = 0.25) -> float | None:
    """The server's mean VmRSS over a few samples, in KiB."""
    assert ctx.rss_kib is not None
    got: list[int] = []
    for i in range(samples):
        if i:
            await asyncio.sleep(every_s)
        rss = ctx.rss_kib()
        if rss is not None:
            got.append(rss)
    return sum(got) / len(got) if got else None


async def idle_longpolls(ctx: Context, res: ScenarioResult) -> None:
    """N users each hold one /sync long-poll (30 s) open: the server's RSS before and while held.

    Nothing happens in the users' rooms (they have none), so every request stays
    parked; one that returns early anyway is re-issued with its new ``since``.
    While they are held, a separate user's /sync (timeout 0) is timed, to show
    whether the server still answers promptly. Then the client drops the
    connections and the RSS is read again.
    """
    if ctx.rss_kib is None:
        res.error("the server process is not known: cannot read its memory")
        return
    n = ctx.profile.idle_longpolls
    users = await ctx.users(n)
    probe = await ctx.new_user()
    tokens = await bounded_gather([u.sync for u in users], limit=8)
    await probe.sync()
    await asyncio.sleep(2)  # let the setup's work settle
    before = await _mean_rss_kib(ctx, 8)

    held = 0
    returned_early = 0
    failed: list[RequestFailed] = []
    all_held = asyncio.Event()

    async def hold(user: User, since: str) -> None:
        nonlocal held, returned_early
        held += 1
        if held == n:
            all_held.set()
        while True:
            try:
                got = await user.sync(since=since, timeout_ms=30_000)
            except RequestFailed as exc:
                failed.append(exc)
                return
            returned_early += 1
            since = str(got["next_batch"])

    tasks = [
        asyncio.create_task(hold(u, str(t["next_batch"])))
        for u, t in zip(users, tokens, strict=True)
    ]
    try:
        await all_held.wait()
        # The requests are issued; give the server time to accept and park each one.
        await asyncio.sleep(min(10.0, 2.0 + n / 200))
        open_before_probe = sum(1 for t in tasks if not t.done())
        while_held = await _mean_rss_kib(ctx, 12)
        probe_ms: list[float] = []
        for _ in range(10):
            t1 = time.perf_counter()
            try:
                await probe.sync()
            except RequestFailed as exc:
                res.request_failed(exc)
                continue
            probe_ms.append(ms_since(t1))
        still_open = sum(1 for t in tasks if not t.done())
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(3)  # let the server notice the closed connections
    after = await _mean_rss_kib(ctx, 8)

    for exc in failed[:5]:
        res.request_failed(exc)
    res.check(
        open_before_probe == n and still_open == n,
        f"all {n} long-polls stayed open while measured",
    )
    if before is None or while_held is None or after is None:
        res.error("the server's memory could not be read (did it exit?)")
        return
    mib = 1024.0
    res.metric("RSS before", before / mib, "MiB", "lower")
    res.metric(f"RSS with {n} long-polls held", while_held / mib, "MiB", "lower")
    res.metric("RSS per held long-poll", (while_held - before) / n, "KiB", "lower")
    res.metric("RSS after release", after / mib, "MiB", "lower")
    res.latency("other user's /sync while held", probe_ms)
    res.checks.append(f"{returned_early} long-poll(s) returned before their timeout (re-issued)")


Scenario = Callable[[Context, ScenarioResult], Awaitable[None]]

#: Every scenario, in the order a run goes through them.
SCENARIOS: dict[str, Scenario] = {
    "send_latency": send_latency,
    "send_throughput_one_room": send_throughput_one_room,
    "send_throughput_room_each": send_throughput_room_each,
    "e2e_latency": e2e_latency,
    "fanout": fanout,
    "room_creation": room_creation,
    "initial_sync": initial_sync,
    "incremental_sync": incremental_sync,
    "joins": joins,
    "messages_page": messages_page,
    "media": media,
    "idle_longpolls": idle_longpolls,
}


async def run_scenario(name: str, ctx: Context) -> ScenarioResult:
    """Runs one scenario within the profile's time limit; never raises."""
    res = ScenarioResult(name)
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(ctx.profile.scenario_timeout_s):
            await SCENARIOS[name](ctx, res)
    except* ScenarioAborted as group:
        for exc in _leaves(group):
            if not res.errors:
                res.errors[f"aborted: {exc}"] = 1
    except* RequestFailed as group:
        for exc in _leaves(group):
            assert isinstance(exc, RequestFailed)
            what = "not implemented by this server" if exc.unimplemented else "failed"
            key = f"{what}: {exc}"
            res.errors[key] = res.errors.get(key, 0) + 1
    except* TimeoutError:
        res.errors[f"timed out after {ctx.profile.scenario_timeout_s:.0f} s"] = 1
    except* (KeyError, TypeError, ValueError, AttributeError) as group:
        for exc in _leaves(group):
            res.errors[f"unexpected response shape: {exc!r}"] = 1
    except* Exception as group:
        # A bug here must not lose the other scenarios' results: report it as an error.
        for exc in _leaves(group):
            res.errors[f"internal error: {exc!r}"] = 1
    res.duration_s = time.perf_counter() - t0
    return res


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_leaves(exc))
        else:
            out.append(exc)
    return out
