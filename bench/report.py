"""Turning a run's results into a Markdown table, docs/performance.md and PNG plots.

The results of a run are one JSON document (see ``bench.run``):

    {"profile", "started", "machine", "versions",
     "servers": {name: {"version", "database", "error", "notes",
                        "scenarios": {scenario: ScenarioResult.to_json()}}}}

Ratios compare each of our servers with Synapse on the same database backend,
and are written so that above 1 means we do better: Synapse / ours for
latencies and memory, ours / Synapse for throughput.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

JsonDict = dict[str, Any]

PAIRS = (("ours-sqlite", "synapse-sqlite"), ("ours-postgres", "synapse-postgres"))


def _metric_map(server: JsonDict) -> dict[tuple[str, str], JsonDict]:
    out: dict[tuple[str, str], JsonDict] = {}
    for sname, sc in server.get("scenarios", {}).items():
        for m in sc.get("metrics", []):
            out[(sname, m["name"])] = {**m, "valid": sc.get("valid", False)}
    return out


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "—"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(ours: JsonDict, synapse: JsonDict) -> float | None:
    """Above 1 means ours is better, whichever way the metric points."""
    a, b = float(ours["value"]), float(synapse["value"])
    if a <= 0 or b <= 0:
        return None
    return b / a if ours["better"] == "lower" else a / b


def markdown_table(results: JsonDict) -> str:
    servers: dict[str, JsonDict] = results["servers"]
    names = list(servers)
    maps = {n: _metric_map(servers[n]) for n in names}
    rows: list[tuple[str, str]] = []
    for n in names:
        for key in maps[n]:
            if key not in rows:
                rows.append(key)
    pairs = [(o, s) for o, s in PAIRS if o in servers and s in servers]
    header = [
        "scenario",
        "metric",
        "unit",
        *names,
        *[f"ratio {o.partition('-')[2]}" for o, _ in pairs],
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in rows:
        unit = next(maps[n][key]["unit"] for n in names if key in maps[n])
        cells = [key[0], key[1], unit]
        for n in names:
            m = maps[n].get(key)
            if m is None:
                cells.append("—")
            else:
                cells.append(_fmt(float(m["value"])) + ("" if m["valid"] else " ⚠"))
        for o, s in pairs:
            mo, ms = maps[o].get(key), maps[s].get(key)
            r = ratio(mo, ms) if mo and ms else None
            cells.append("—" if r is None else f"{r:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    legend = (
        "Ratios: above 1x means ours does better (Synapse ÷ ours for latency and memory, "
        "ours ÷ Synapse for throughput). ⚠: the scenario reported errors (see below); "
        "—: not measured."
    )
    return "\n".join([*lines, "", legend])


def errors_section(results: JsonDict, per_scenario: int = 3) -> str:
    lines: list[str] = []
    for name, server in results["servers"].items():
        if server.get("error"):
            first = str(server["error"]).splitlines()[0]
            lines.append(f"- **{name}**: did not run: {first}")
        for sname, sc in server.get("scenarios", {}).items():
            errs = sc.get("errors", [])
            if not errs:
                continue
            shown = "; ".join(
                f"{e['message'].splitlines()[0][:160]}"
                + (f" (x{e['count']})" if e["count"] > 1 else "")
                for e in errs[:per_scenario]
            )
            more = f"; and {len(errs) - per_scenario} more" if len(errs) > per_scenario else ""
            lines.append(f"- **{name}** / {sname}: {shown}{more}")
    return "\n".join(lines) if lines else "None."


def header_section(results: JsonDict) -> str:
    m = results["machine"]
    v = results["versions"]
    servers = results["servers"]
    lines = [
        f"Run of {results['started']} UTC, profile `{results['profile']}`.",
        "",
        f"- Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['ram_gib']:.1f} GiB RAM, {m['os']}",
        f"- Python {v['python']}; "
        + "; ".join(f"{k} {val}" for k, val in v.items() if k != "python"),
    ]
    for name, server in servers.items():
        extra = f" ({', '.join(server['notes'])})" if server.get("notes") else ""
        setup = server.get("scenarios", {}).get("setup")
        if setup and setup.get("checks"):
            extra += f"; setup: {setup['checks'][0]} in {setup['duration_s']:.0f} s"
        if "load_before" in server:
            after = server.get("load_after", "?")
            extra += f"; 1-min load average {server['load_before']} before, {after} after"
        lines.append(
            f"- {name}: {server.get('version', '?')} on {server.get('database', '?')}{extra}"
        )
    return "\n".join(lines)


def longpolls_section(results: JsonDict) -> str:
    """What idle_longpolls verified per server (how many were held, early returns)."""
    lines = []
    for name, server in results["servers"].items():
        sc = server.get("scenarios", {}).get("idle_longpolls")
        if sc and sc.get("checks"):
            lines.append(f"- {name}: " + "; ".join(sc["checks"]))
    return "\n".join(lines) or "- not run"


def full_report(results: JsonDict) -> str:
    return "\n\n".join(
        [
            header_section(results),
            markdown_table(results),
            "Held long-polls (idle_longpolls):\n\n" + longpolls_section(results),
            "Errors:\n\n" + errors_section(results),
        ]
    )


DOC_TEMPLATE = """# Performance

Figures measured by `python3 -m bench.run` (see bench/README.md).

## Results
"""


def update_doc(path: Path, profile: str, body: str) -> None:
    """Replaces the section of ``profile`` in docs/performance.md (creating the file if needed)."""
    text = path.read_text() if path.exists() else DOC_TEMPLATE
    start, end = f"<!-- bench:{profile}:start -->", f"<!-- bench:{profile}:end -->"
    if start not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n### {profile.title()} profile\n\n{start}\n{end}\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: f"{start}\n{body}\n{end}", text)
    path.write_text(text)


def write_plots(results: JsonDict, out_dir: Path) -> list[Path]:
    """One PNG per scenario: the cumulative distribution of each sample series, per server."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    by_scenario: dict[str, list[tuple[str, str, list[float]]]] = {}
    for server_name, server in results["servers"].items():
        for sname, sc in server.get("scenarios", {}).items():
            for label, samples in sc.get("samples", {}).items():
                if samples:
                    by_scenario.setdefault(sname, []).append((server_name, label, samples))
    written: list[Path] = []
    for sname, series in by_scenario.items():
        fig, ax = plt.subplots(figsize=(8, 5))
        for server_name, label, samples in series:
            data = sorted(samples)
            ys = [(i + 1) / len(data) for i in range(len(data))]
            ax.step(data, ys, where="post", label=f"{server_name}: {label} (n={len(data)})")
        ax.set_xscale("log")
        ax.set_xlabel("milliseconds (log scale)")
        ax.set_ylabel("fraction of requests at or below")
        ax.set_title(f"{sname} ({results['profile']} profile)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = out_dir / f"{sname}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
