"""Reads `go test -json` output of a Complement run: results, summary, baseline.

    results.py summarise GO_TEST_JSON --results OUT.jsonl --summary OUT.txt [...]
    results.py compare BASELINE.jsonl RESULTS.jsonl
    results.py run-pattern BASELINE.jsonl      a `go test -run` pattern for the baseline
    results.py new-baseline RESULTS.jsonl      the passing tests, as baseline lines

A result line is ``{"package", "test", "result", "elapsed"}``; ``test`` is the full
name with subtests (``TestLogin/parallel/Login_with_password``) and ``result`` is
pass, fail or skip. A test that started but never ended (the run timed out or
crashed) counts as a fail. A *group* is a package's top-level test with its
subtests; the per-group and total figures count leaf tests only, so a parent and
its subtests are not counted twice.

Standard library only: it runs on the host before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

PREFIX = "github.com/matrix-org/complement/"


def short_package(package: str) -> str:
    return package[len(PREFIX) :] if package.startswith(PREFIX) else package


def read_results(go_json: Path) -> list[dict[str, object]]:
    started: dict[tuple[str, str], None] = {}
    final: dict[tuple[str, str], dict[str, object]] = {}
    for line in go_json.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        test = event.get("Test")
        if not test:
            continue
        key = (short_package(event.get("Package", "")), test)
        action = event.get("Action")
        if action == "run":
            started[key] = None
        elif action in ("pass", "fail", "skip"):
            final[key] = {
                "package": key[0],
                "test": test,
                "result": action,
                "elapsed": event.get("Elapsed", 0),
            }
    for key in started:
        if key not in final:
            final[key] = {"package": key[0], "test": key[1], "result": "fail", "elapsed": 0}
    return sorted(final.values(), key=lambda r: (str(r["package"]), str(r["test"])))


def leaves(results: list[dict[str, object]]) -> list[dict[str, object]]:
    parents = set()
    for r in results:
        parts = str(r["test"]).split("/")
        for i in range(1, len(parts)):
            parents.add((r["package"], "/".join(parts[:i])))
    return [r for r in results if (r["package"], r["test"]) not in parents]


def summarise(args: argparse.Namespace) -> int:
    results = read_results(Path(args.go_json))
    with open(args.results, "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for r in leaves(results):
        group = f"{r['package']}:{str(r['test']).split('/')[0]}"
        groups[group][str(r["result"])] += 1
    total: Counter[str] = Counter()
    for c in groups.values():
        total.update(c)
    top = Counter({r["test"]: 1 for r in results if "/" not in str(r["test"])})
    top_total: Counter[str] = Counter(
        str(r["result"]) for r in results if "/" not in str(r["test"])
    )
    lines = [
        f"Complement run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, mode {args.mode}, "
        f"database {args.database}, image {args.image}",
        "",
        f"{'group':60} {'pass':>5} {'fail':>5} {'skip':>5}",
    ]
    for name in sorted(groups):
        c = groups[name]
        lines.append(f"{name:60} {c['pass']:5} {c['fail']:5} {c['skip']:5}")
    lines += [
        "",
        f"leaf tests: {total['pass']} passed, {total['fail']} failed, {total['skip']} skipped",
        f"top-level tests ({len(top)}): {top_total['pass']} passed, "
        f"{top_total['fail']} failed, {top_total['skip']} skipped",
        "",
        "largest failing groups:",
    ]
    failing = sorted(
        (g for g in groups if groups[g]["fail"]), key=lambda g: (-groups[g]["fail"], g)
    )
    lines += [f"  {groups[g]['fail']:4}  {g}" for g in failing[:10]] or ["  (none)"]
    if args.mode != "baseline":
        # The closing line in the form CI log readers recognise. A baseline run ends
        # with the baseline's own line instead (see compare): there, failures of
        # tests outside the baseline are expected.
        lines += [
            "",
            f"complement: {total['pass']} passed, {total['fail']} failed, {total['skip']} skipped",
        ]
    Path(args.summary).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if not results:
        print("no test results: see go-test.stderr", file=sys.stderr)
        return 1
    return 0


def load_jsonl(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def compare(args: argparse.Namespace) -> int:
    """Fails when a baseline test did not pass.

    A baseline test missing from the results counts as not passing when its
    top-level test ran, or always with ``--require-all`` (a baseline run selects
    every baseline test); otherwise it was left out of this run and is only
    counted.
    """
    baseline = {(str(r["package"]), str(r["test"])) for r in load_jsonl(Path(args.baseline))}
    results = {
        (str(r["package"]), str(r["test"])): str(r["result"])
        for r in load_jsonl(Path(args.results))
    }
    ran_top = {(p, t.split("/")[0]) for p, t in results}
    regressed = []
    not_run = 0
    for key in sorted(baseline):
        result = results.get(key)
        if result == "pass":
            continue
        if (
            result is None
            and not args.require_all
            and (key[0], key[1].split("/")[0]) not in ran_top
        ):
            not_run += 1
            continue
        regressed.append(key)
        print(f"REGRESSION {key[0]} {key[1]}: {result or 'not run'}")
    new = sorted(k for k, v in results.items() if v == "pass" and k not in baseline)
    if new:
        print(f"{len(new)} tests pass that are not in baseline.jsonl; add them with:")
        print(
            "  python3 complement/results.py new-baseline complement/results/results.jsonl "
            "--baseline complement/baseline.jsonl > baseline.new && mv baseline.new "
            "complement/baseline.jsonl"
        )
    checked = len(baseline) - not_run
    print(
        f"baseline: {checked - len(regressed)}/{checked} checked still pass, "
        f"{len(regressed)} regressed, {not_run} not in this run, {len(new)} newly passing"
    )
    print(f"complement-baseline: {checked - len(regressed)} passed, {len(regressed)} failed")
    return 1 if regressed else 0


def run_pattern(args: argparse.Namespace) -> int:
    tops = sorted({str(r["test"]).split("/")[0] for r in load_jsonl(Path(args.baseline))})
    if tops:
        print("^(" + "|".join(re.escape(t) for t in tops) + ")$")
    return 0


def new_baseline(args: argparse.Namespace) -> int:
    old = (
        {(r["package"], r["test"]) for r in load_jsonl(Path(args.baseline))}
        if args.baseline
        else set()
    )
    passing = {
        (r["package"], r["test"]) for r in load_jsonl(Path(args.results)) if r["result"] == "pass"
    }
    # The baseline only grows: keep earlier entries even if this run did not cover them.
    for package, test in sorted(passing | old):
        print(json.dumps({"package": package, "test": test}, sort_keys=True))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summarise")
    s.add_argument("go_json")
    s.add_argument("--results", required=True)
    s.add_argument("--summary", required=True)
    s.add_argument("--image", default="")
    s.add_argument("--mode", default="full")
    s.add_argument("--database", default="sqlite")
    s.set_defaults(func=summarise)
    c = sub.add_parser("compare")
    c.add_argument("baseline")
    c.add_argument("results")
    c.add_argument("--require-all", action="store_true", help="a missing test is a regression")
    c.set_defaults(func=compare)
    r = sub.add_parser("run-pattern")
    r.add_argument("baseline")
    r.set_defaults(func=run_pattern)
    n = sub.add_parser("new-baseline")
    n.add_argument("results")
    n.add_argument("--baseline", help="an existing baseline to keep entries of")
    n.set_defaults(func=new_baseline)
    args = parser.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
