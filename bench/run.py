"""Runs the benchmark: every selected server in turn, every selected scenario.

    python3 -m bench.run --profile quick
    python3 -m bench.run --profile full --servers ours-sqlite,synapse-sqlite
    python3 -m bench.run --profile quick --scenarios send_latency,e2e_latency

Writes bench/results/<timestamp>-<profile>.json and the PNG plots in
bench/results/<timestamp>-<profile>-plots/, prints the Markdown table, and
rewrites the profile's section of docs/performance.md (unless --no-docs).
``--report <json>`` re-renders all of that from a saved results file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import report
from bench.driver import Http, RequestFailed
from bench.scenarios import (
    PROFILES,
    SCENARIOS,
    Context,
    Metric,
    Profile,
    ScenarioResult,
    run_scenario,
)
from bench.servers import (
    KNOWN_SERVERS,
    REPO_ROOT,
    PostgresCluster,
    RunningServer,
    ServerStartError,
    ensure_synapse_venv,
    ours_version,
    start_server,
    synapse_version,
    wait_started,
)

JsonDict = dict[str, Any]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DOC_PATH = REPO_ROOT / "docs" / "performance.md"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine_info() -> JsonDict:
    cpu_model = platform.processor() or "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    ram_kib = 0
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                ram_kib = int(line.split()[1])
    return {
        "cpus": os.cpu_count() or 0,
        "cpu_model": cpu_model,
        "ram_gib": ram_kib / 1024 / 1024,
        "os": f"{platform.system()} {platform.release()}",
    }


class MemorySampler:
    """Samples the server's VmRSS every 250 ms while the scenarios run."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.max_kib = 0

    async def run(self) -> None:
        while True:
            rss = self.server.rss_kib()
            if rss is not None:
                self.max_kib = max(self.max_kib, rss)
            await asyncio.sleep(0.25)


async def bench_server(
    server: RunningServer, profile: Profile, scenarios: list[str]
) -> dict[str, ScenarioResult]:
    results: dict[str, ScenarioResult] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        http = Http(session, server.base_url)
        t0 = time.monotonic()
        await wait_started(server, http, deadline_s=120)
        say(f"  up after {time.monotonic() - t0:.1f}s at {server.base_url}")
        await asyncio.sleep(3)  # let start-up work settle before reading idle memory
        idle_kib = server.rss_kib() or 0
        ctx = Context(http, server.shared_secret, profile, rss_kib=server.rss_kib)
        setup = ScenarioResult("setup")
        t1 = time.perf_counter()
        try:
            # Register the shared user pool before measuring: password hashing is setup,
            # and its memory (argon2, bcrypt) would otherwise dominate the peak.
            await ctx.users(pool_size(profile, scenarios))
        except RequestFailed as exc:
            setup.errors[f"registering users failed: {exc}"] = 1
        setup.duration_s = time.perf_counter() - t1
        setup.checks.append(f"registered {len(ctx.pool)} users, 8 at a time")
        results["setup"] = setup
        say(f"  registered {len(ctx.pool)} users in {setup.duration_s:.1f}s")
        sampler = MemorySampler(server)
        sampler_task = asyncio.create_task(sampler.run())
        try:
            for name in scenarios:
                res = await run_scenario(name, ctx)
                results[name] = res
                say("  " + _one_line(res))
        finally:
            sampler_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler_task
        await asyncio.sleep(2)
        memory = ScenarioResult("memory")
        mib = 1024.0
        memory.metrics = [
            Metric("idle RSS after start", idle_kib / mib, "MiB", "lower"),
            Metric("RSS after the run", (server.rss_kib() or 0) / mib, "MiB", "lower"),
            Metric("peak RSS during the scenarios", sampler.max_kib / mib, "MiB", "lower"),
            Metric(
                "peak RSS incl. registration (VmHWM)", (server.hwm_kib() or 0) / mib, "MiB", "lower"
            ),
        ]
        if server.proc.poll() is not None:
            memory.errors[f"the server exited during the run (status {server.proc.returncode})"] = 1
        results["memory"] = memory
        say("  " + _one_line(memory))
    return results


def pool_size(profile: Profile, scenarios: list[str]) -> int:
    """How many users the shared pool needs for the selected scenarios."""
    need = {
        "send_latency": 1,
        "send_throughput_one_room": profile.throughput_senders,
        "send_throughput_room_each": profile.throughput_senders,
        "e2e_latency": 2,
        "fanout": profile.fanout_clients,
        "joins": profile.joins_count,
        "media": 1,
        "idle_longpolls": profile.idle_longpolls,
    }
    return max([need.get(s, 0) for s in scenarios], default=0)


def _one_line(res: ScenarioResult) -> str:
    shown = ", ".join(f"{m.name}={report._fmt(m.value)}{m.unit}" for m in res.metrics[:4])
    status = (
        "ok"
        if res.valid
        else f"{sum(res.errors.values())} error(s): {next(iter(res.errors), '')[:200]}"
    )
    return f"{res.name:28s} {res.duration_s:6.1f}s  {shown}  [{status}]"


async def run(profile: Profile, servers: list[str], scenarios: list[str]) -> JsonDict:
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    results: JsonDict = {
        "profile": profile.name,
        "started": started,
        "machine": machine_info(),
        "versions": {"python": platform.python_version(), "ours": ours_version()},
        "scenarios": scenarios,
        "servers": {},
    }
    pg: PostgresCluster | None = None
    try:
        if any(s.endswith("-postgres") for s in servers):
            pg = PostgresCluster()
            say("starting a throwaway PostgreSQL cluster")
            await asyncio.to_thread(pg.start)
            results["versions"]["postgresql"] = pg.version()
        if any(s.startswith("synapse-") for s in servers):
            notes: list[str] = []
            await asyncio.to_thread(ensure_synapse_venv, notes)
            for n in notes:
                say(n)
            results["versions"]["synapse"] = synapse_version()
        import sqlite3

        results["versions"]["sqlite"] = sqlite3.sqlite_version
        for name in servers:
            say(f"== {name}")
            # Other work on the machine skews the figures: record how busy it was.
            entry: JsonDict = {"scenarios": {}, "load_before": round(os.getloadavg()[0], 2)}
            results["servers"][name] = entry
            try:
                server = await asyncio.to_thread(start_server, name, pg)
            except (ServerStartError, OSError, ValueError) as exc:
                entry["error"] = str(exc)
                say(f"  did not start: {exc}")
                continue
            entry.update(version=server.version, database=server.database, notes=server.notes)
            try:
                got = await bench_server(server, profile, scenarios)
                entry["scenarios"] = {k: v.to_json() for k, v in got.items()}
            except ServerStartError as exc:
                entry["error"] = str(exc)
                say(f"  did not start: {exc}")
            finally:
                entry["load_after"] = round(os.getloadavg()[0], 2)
                await asyncio.to_thread(server.stop)
    finally:
        if pg is not None:
            await asyncio.to_thread(pg.stop)
    return results


def rerender(json_path: Path, *, docs: bool) -> int:
    results: JsonDict = json.loads(json_path.read_text())
    plots = report.write_plots(results, json_path.with_name(json_path.stem + "-plots"))
    text = report.full_report(results)
    print(text)
    if docs:
        report.update_doc(DOC_PATH, str(results["profile"]), text)
    say(f"\n{len(plots)} plot(s) written")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m bench.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument(
        "--servers",
        default=",".join(KNOWN_SERVERS),
        help=f"comma-separated, from: {', '.join(KNOWN_SERVERS)} (default: all)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from: {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument(
        "--report",
        metavar="JSON",
        help="run nothing: re-render the table, plots and docs section from a saved results file",
    )
    args = parser.parse_args(argv)
    if args.report:
        return rerender(Path(args.report), docs=not args.no_docs)
    servers = [s for s in args.servers.split(",") if s]
    scenarios = [s for s in args.scenarios.split(",") if s]
    for s in servers:
        if s not in KNOWN_SERVERS:
            parser.error(f"unknown server {s!r}")
    for s in scenarios:
        if s not in SCENARIOS:
            parser.error(f"unknown scenario {s!r}")

    profile = PROFILES[args.profile]
    t0 = time.monotonic()
    results = asyncio.run(run(profile, servers, scenarios))
    results["duration_s"] = round(time.monotonic() - t0, 1)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = results["started"].replace(" ", "T").replace(":", "")
    json_path = RESULTS_DIR / f"{stamp}-{profile.name}.json"
    json_path.write_text(json.dumps(results, indent=1))
    plots = report.write_plots(results, RESULTS_DIR / f"{stamp}-{profile.name}-plots")
    text = report.full_report(results)
    print(text)
    if not args.no_docs:
        report.update_doc(DOC_PATH, profile.name, text)
    rel = json_path.relative_to(REPO_ROOT)
    say(f"\nresults: {rel}; {len(plots)} plot(s); took {results['duration_s']:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
