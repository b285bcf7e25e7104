"""matrix-js-sdk (the SDK behind Element) against the real server, on both backends.

The homeserver runs as a subprocess (``python3 -m homeserver run``) on a free
loopback port with open registration; ``tests/js/sync.test.mjs`` then drives it
with two SDK clients under Node's test runner (see that file for the steps).

Node dependencies come from ``tests/js/package-lock.json``: ``npm ci`` runs once
when ``tests/js/node_modules`` lacks the SDK (under a file lock, as several test
workers may get here at once). Without ``node``/``npm`` the test is skipped,
except under ``CI=true``, where that is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, NoReturn

import aiohttp
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
JS_DIR = REPO_ROOT / "tests" / "js"
JS_TEST = JS_DIR / "sync.test.mjs"
MIN_NODE = (20, 14)  # --test-force-exit
SERVER_START_TIMEOUT_S = 60.0
NODE_TIMEOUT_S = 120.0
NPM_CI_TIMEOUT_S = 600.0


def _missing(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI requires Node.js for the matrix-js-sdk test: {reason}")
    pytest.skip(reason)


def _node_version(node: str) -> tuple[int, int]:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"v(\d+)\.(\d+)", out.stdout.strip())
    return (int(match[1]), int(match[2])) if match else (0, 0)


@pytest.fixture(scope="session")
def node_with_sdk() -> str:
    """The ``node`` binary, with tests/js/node_modules installed from the lock file."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _missing("node and npm not found on PATH (install Node.js 20 or newer)")
    version = _node_version(node)
    if version < MIN_NODE:
        _missing(f"Node.js {'.'.join(map(str, MIN_NODE))} or newer needed, found {version}")
    with open(JS_DIR / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (JS_DIR / "node_modules" / "matrix-js-sdk" / "package.json").exists():
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=JS_DIR,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT_S,
                check=False,
            )
            if result.returncode != 0:
                pytest.fail(f"npm ci failed in tests/js:\n{result.stdout}\n{result.stderr}")
    return node


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _open_log(path: Path) -> BinaryIO:
    return path.open("wb")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Server:
    def __init__(self, proc: asyncio.subprocess.Process, base_url: str, log: Path) -> None:
        self.proc = proc
        self.base_url = base_url
        self.log = log


async def _wait_until_up(server: _Server) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    url = f"{server.base_url}/_matrix/client/versions"
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if server.proc.returncode is not None:
                pytest.fail(
                    f"homeserver exited with {server.proc.returncode} while starting:\n"
                    + _tail(server.log)
                )
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    pytest.fail(f"homeserver not up after {SERVER_START_TIMEOUT_S} s:\n" + _tail(server.log))


@pytest.fixture
async def homeserver(db_url: str, tmp_path: Path) -> AsyncIterator[_Server]:
    """The real server in a subprocess, open registration, on the test's database."""
    port = _free_port()
    config = {
        "server_name": "js-sdk.test",
        "data_dir": str(tmp_path / "data"),
        "database": {"url": db_url},
        "listeners": [{"bind_address": "127.0.0.1", "port": port}],
        "registration": {"enabled": True},
        "rate_limits": {"enabled": False},
        "logging": {"level": "INFO", "access_log": True},
        "auth": {"argon2_time_cost": 1, "argon2_memory_kib": 256},
    }
    cfg = tmp_path / "homeserver.yaml"
    cfg.write_text(yaml.safe_dump(config))
    log = tmp_path / "server.log"
    with _open_log(log) as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "homeserver",
            "run",
            "--config",
            str(cfg),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = _Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        await _wait_until_up(server)
        yield server
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def _count(output: str, name: str) -> int:
    match = re.search(rf"^# {name} (\d+)$", output, re.MULTILINE)
    return int(match[1]) if match else -1


async def test_js_sdk_clients_chat_through_sync(homeserver: _Server, node_with_sdk: str) -> None:
    env = {**os.environ, "HS_BASE_URL": homeserver.base_url, "NO_COLOR": "1"}
    # --test-force-exit: the SDK leaves request timers behind after stopClient().
    proc = await asyncio.create_subprocess_exec(
        node_with_sdk,
        "--test",
        "--test-force-exit",
        "--test-reporter=tap",
        str(JS_TEST),
        cwd=JS_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        raw, _ = await asyncio.wait_for(proc.communicate(), NODE_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        raw, _ = await proc.communicate()
        pytest.fail(
            f"node --test still running after {NODE_TIMEOUT_S} s:\n{raw.decode(errors='replace')}"
            f"\n--- server log:\n{_tail(homeserver.log)}"
        )
    output = raw.decode(errors="replace")
    report = f"{output}\n--- server log (tail):\n{_tail(homeserver.log)}"
    assert proc.returncode == 0, report
    assert _count(output, "fail") == 0, report
    assert _count(output, "pass") >= 6, report
