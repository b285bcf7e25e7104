"""Starting and stopping the servers under test, each on a free loopback port.

* ``ours-sqlite`` / ``ours-postgres``: ``python3 -m homeserver run --config <yaml>``.
* ``synapse-sqlite`` / ``synapse-postgres``: Synapse from its own virtualenv
  (``bench/.venv-synapse``, created on first use with ``python3 -m venv`` and
  ``pip install matrix-synapse[postgres]``), with a generated homeserver.yaml.
* PostgreSQL comes from a throwaway cluster (``initdb`` + ``pg_ctl``) shared by
  the runs; every server gets a fresh database in it.

Each server gets a temporary data directory that is removed afterwards. Its
log stays there while it runs; the last lines of it are reported when it fails
to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.driver import Http, wait_until_up

REPO_ROOT = Path(__file__).resolve().parent.parent
SYNAPSE_VENV = Path(__file__).resolve().parent / ".venv-synapse"
SERVER_NAME = "bench.localhost"
KNOWN_SERVERS = ("ours-sqlite", "ours-postgres", "synapse-sqlite", "synapse-postgres")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def read_status_kib(pid: int, field_name: str) -> int | None:
    """A ``VmRSS``/``VmHWM``-style field of /proc/<pid>/status, in KiB (None if gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


# ---------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise FileNotFoundError(f"PostgreSQL's {name} not found (install the postgresql package)")


class PostgresCluster:
    """A throwaway PostgreSQL cluster on a free loopback port, trust auth, one per run."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.port = free_port()
        self.user = "postgres"
        self._as_postgres: list[str] = []
        self.started = False

    def _run(self, args: Sequence[str], timeout: float = 120) -> None:
        subprocess.run(
            [*self._as_postgres, *args],
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        if os.geteuid() == 0:
            # initdb refuses to run as root: run the cluster as the postgres OS user.
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, user="postgres")
        data = self.dir / "data"
        self._run(
            [
                _pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                self.user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
            "-c max_connections=300 -c shared_buffers=256MB"
        )
        self._run(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(self.dir / "log"),
                "-o",
                options,
                "-w",
                "start",
            ]
        )
        self.started = True

    def create_database(self, name: str) -> str:
        """Creates an empty database (UTF8, C collation, as Synapse requires); returns its DSN."""
        self._run(
            [
                _pg_bin("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-E",
                "UTF8",
                "--locale=C",
                "-T",
                "template0",
                name,
            ]
        )
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run(
                    [_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop"]
                )
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def version(self) -> str:
        out = subprocess.run(
            [_pg_bin("postgres"), "--version"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip().replace("postgres (PostgreSQL) ", "")


# ---------------------------------------------------------------- servers


@dataclass(slots=True)
class RunningServer:
    name: str
    base_url: str
    proc: subprocess.Popen[bytes]
    workdir: Path
    shared_secret: str
    version: str
    #: The backend name and version, e.g. "sqlite 3.40.1" or "postgresql 15.18".
    database: str
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kib(self) -> int | None:
        return read_status_kib(self.pid, "VmRSS")

    def hwm_kib(self) -> int | None:
        return read_status_kib(self.pid, "VmHWM")

    def log_tail(self, lines: int = 15) -> str:
        text: list[str] = []
        for log in ("server.log", "synapse.log"):
            with contextlib.suppress(OSError):
                text += (self.workdir / log).read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        shutil.rmtree(self.workdir, ignore_errors=True)


class ServerStartError(Exception):
    pass


def _sqlite_version() -> str:
    import sqlite3

    return f"sqlite {sqlite3.sqlite_version}"


def ours_version() -> str:
    try:
        text = (REPO_ROOT / "pyproject.toml").read_text()
        import tomllib

        version = str(tomllib.loads(text)["project"]["version"])
    except (OSError, KeyError, ValueError):
        version = "?"
    rev = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{version} ({rev})" if rev else version


def _launch(
    cmd: list[str], workdir: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 -- the child keeps it open
    try:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    finally:
        log.close()


def start_ours(backend: str, pg: PostgresCluster | None) -> RunningServer:
    workdir = Path(tempfile.mkdtemp(prefix="bench-ours-"))
    port = free_port()
    secret = secrets.token_hex(16)
    if backend == "postgres":
        assert pg is not None
        url = pg.create_database(f"ours_{secrets.token_hex(4)}")
        db_desc = f"postgresql {pg.version()}"
    else:
        url = f"sqlite:///{workdir / 'homeserver.db'}"
        db_desc = _sqlite_version()
    config = {
        "server_name": SERVER_NAME,
        "data_dir": str(workdir / "data"),
        "database": {"url": url},
        "listeners": [{"bind_address": "127.0.0.1", "port": port}],
        "registration": {"enabled": True, "shared_secret": secret},
        "rate_limits": {"enabled": False},
        "logging": {"access_log": False, "level": "WARNING"},
    }
    cfg_path = workdir / "homeserver.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    proc = _launch(
        [sys.executable, "-m", "homeserver", "run", "--config", str(cfg_path)], workdir, REPO_ROOT
    )
    return RunningServer(
        name=f"ours-{backend}",
        base_url=f"http://127.0.0.1:{port}",
        proc=proc,
        workdir=workdir,
        shared_secret=secret,
        version=ours_version(),
        database=db_desc,
    )


def synapse_python() -> Path:
    return SYNAPSE_VENV / "bin" / "python"


def ensure_synapse_venv(log: list[str]) -> None:
    """Creates bench/.venv-synapse with matrix-synapse from PyPI unless it is already there."""
    py = synapse_python()
    probe = [str(py), "-c", "import synapse, psycopg2"]
    if py.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return
    log.append("creating the Synapse virtualenv (pip install matrix-synapse[postgres])")
    subprocess.run([sys.executable, "-m", "venv", str(SYNAPSE_VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "matrix-synapse[postgres]"], check=True)


def synapse_version() -> str:
    out = subprocess.run(
        [
            str(synapse_python()),
            "-c",
            "import importlib.metadata as m; print(m.version('matrix-synapse'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


_HIGH = {"per_second": 100000, "burst_count": 100000}


def synapse_config(
    workdir: Path, port: int, secret: str, database: dict[str, object]
) -> dict[str, object]:
    """Synapse's defaults, except: rate limits raised, fast password hashing, no federation."""
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(workdir / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": database,
        "log_config": str(workdir / "log.yaml"),
        "media_store_path": str(workdir / "media"),
        "signing_key_path": str(workdir / "signing.key"),
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "enable_registration": True,
        "enable_registration_without_verification": True,
        "registration_shared_secret": secret,
        # Registration is setup, not a measured scenario: don't spend seconds on bcrypt.
        "bcrypt_rounds": 4,
        "max_upload_size": "200M",
        "rc_message": _HIGH,
        "rc_registration": _HIGH,
        "rc_login": {"address": _HIGH, "account": _HIGH, "failed_attempts": _HIGH},
        "rc_joins": {"local": _HIGH, "remote": _HIGH},
        "rc_joins_per_room": _HIGH,
        "rc_invites": {"per_room": _HIGH, "per_user": _HIGH, "per_issuer": _HIGH},
        "rc_room_creation": _HIGH,
        "rc_media_create": _HIGH,
        "rc_presence": {"per_user": _HIGH},
        "rc_profile": _HIGH,
        "rc_3pid_validation": _HIGH,
        "rc_admin_redaction": _HIGH,
    }


def _synapse_log_config(path: Path, log_file: Path) -> None:
    config = {
        "version": 1,
        "formatters": {"precise": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(log_file),
            },
        },
        "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
        "root": {"level": "WARNING", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }
    path.write_text(yaml.safe_dump(config))


def start_synapse(backend: str, pg: PostgresCluster | None) -> RunningServer:
    workdir = Path(tempfile.mkdtemp(prefix="bench-synapse-"))
    port = free_port()
    secret = secrets.token_hex(16)
    if backend == "postgres":
        assert pg is not None
        name = f"synapse_{secrets.token_hex(4)}"
        pg.create_database(name)
        database: dict[str, object] = {
            "name": "psycopg2",
            "args": {
                "user": pg.user,
                "host": "127.0.0.1",
                "port": pg.port,
                "database": name,
                "cp_min": 5,
                "cp_max": 10,
            },
        }
        db_desc = f"postgresql {pg.version()}"
    else:
        database = {"name": "sqlite3", "args": {"database": str(workdir / "homeserver.db")}}
        db_desc = _sqlite_version()
    _synapse_log_config(workdir / "log.yaml", workdir / "synapse.log")
    cfg_path = workdir / "homeserver.yaml"
    cfg_path.write_text(yaml.safe_dump(synapse_config(workdir, port, secret, database)))
    py = str(synapse_python())
    keygen = subprocess.run(
        [py, "-m", "synapse.app.homeserver", "--config-path", str(cfg_path), "--generate-keys"],
        capture_output=True,
        text=True,
        check=False,
        cwd=workdir,
        timeout=120,
    )
    if keygen.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        raise ServerStartError(f"synapse --generate-keys failed: {keygen.stderr[-800:]}")
    proc = _launch(
        [py, "-m", "synapse.app.homeserver", "--config-path", str(cfg_path)], workdir, workdir
    )
    return RunningServer(
        name=f"synapse-{backend}",
        base_url=f"http://127.0.0.1:{port}",
        proc=proc,
        workdir=workdir,
        shared_secret=secret,
        version=synapse_version(),
        database=db_desc,
        notes=["rate limits raised", "bcrypt_rounds 4", "presence and caches at defaults"],
    )


def start_server(name: str, pg: PostgresCluster | None) -> RunningServer:
    kind, _, backend = name.partition("-")
    if kind == "ours":
        return start_ours(backend, pg)
    if kind == "synapse":
        return start_synapse(backend, pg)
    raise ValueError(f"unknown server {name!r}; known: {', '.join(KNOWN_SERVERS)}")


async def wait_started(server: RunningServer, http: Http, deadline_s: float) -> None:
    """Waits for the process to answer, or raises ServerStartError with its log tail."""
    start = time.monotonic()
    task = asyncio.create_task(wait_until_up(http, deadline_s))
    while not task.done():
        if server.proc.poll() is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await task
            raise ServerStartError(
                f"{server.name} exited with status {server.proc.returncode} after "
                f"{time.monotonic() - start:.1f}s:\n{server.log_tail()}"
            )
        await asyncio.sleep(0.1)
    try:
        task.result()
    except TimeoutError as exc:
        raise ServerStartError(f"{server.name}: {exc}\n{server.log_tail()}") from exc
