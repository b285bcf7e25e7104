"""What a killed backup or restore leaves is removed by the next run (and by server start);
a run still going, in another process, keeps its files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeserver.__main__ import main
from homeserver.backup.dump import verify_backup
from homeserver.backup.staging import STAGING_DIR_NAME, sweep

REPO = Path(__file__).resolve().parents[2]

# A run that stages files and writes half an archive, then waits to be killed.
_RUN = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from homeserver.backup.staging import staging_dir

    async def run(data_dir, kind, partial):
        partial = Path(partial) if partial else None
        async with staging_dir(data_dir, kind, partial_archive=partial) as staging:
            (staging / "users.jsonl").write_text("{}")
            if partial is not None:
                partial.write_bytes(b"half an archive")
            print(staging, flush=True)
            await asyncio.sleep(3600)

    asyncio.run(run(*sys.argv[1:]))
    """
)


class _Run:
    def __init__(self, data_dir: Path, kind: str, partial: Path | None) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        args = [sys.executable, "-c", _RUN, str(data_dir), kind, str(partial or "")]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.staging = Path(self.proc.stdout.readline().strip())
        assert self.staging.is_dir(), self.proc.communicate(timeout=30)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def runs() -> Iterator[list[_Run]]:
    started: list[_Run] = []
    yield started
    for run in started:
        run.kill()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "homeserver.yaml"
    data = tmp_path / "data"
    path.write_text(
        f"server_name: test.local\ndata_dir: '{data}'\n"
        f"database:\n  url: 'sqlite:///{data / 'homeserver.db'}'\n",
        encoding="utf-8",
    )
    assert main(["migrate", "--config", str(path)]) == 0
    return path


def test_backup_removes_what_killed_runs_left_and_keeps_live_runs(
    tmp_path: Path, config_file: Path, runs: list[_Run]
) -> None:
    data = tmp_path / "data"
    dead_partial = tmp_path / "monday.tar.gz.partial"
    live_partial = tmp_path / "tuesday.tar.gz.partial"
    killed_backup = _Run(data, "backup", dead_partial)
    killed_restore = _Run(data, "restore", None)
    live = _Run(data, "backup", live_partial)
    runs.append(live)
    killed_backup.kill()
    killed_restore.kill()
    assert killed_backup.staging.is_dir()
    assert dead_partial.exists()
    assert killed_restore.staging.is_dir()
    # Not ours to remove: a finished archive, other files in the staging root.
    finished = tmp_path / "sunday.tar.gz"
    finished.write_bytes(b"an older backup")
    stranger = data / STAGING_DIR_NAME / "backup-notes.txt"
    stranger.write_text("the operator's file")
    other_dir = data / STAGING_DIR_NAME / "keep-me"
    other_dir.mkdir()

    archive = tmp_path / "wednesday.tar.gz"
    assert main(["backup", "--config", str(config_file), str(archive)]) == 0

    assert not killed_backup.staging.exists()
    assert not dead_partial.exists()
    assert not killed_restore.staging.exists()
    assert live.staging.is_dir()
    assert live_partial.exists()
    assert finished.exists()
    assert stranger.exists()
    assert other_dir.is_dir()
    verify_backup(archive)
    # The backup's own scratch directory is gone too.
    assert sorted(p.name for p in (data / STAGING_DIR_NAME).iterdir()) == sorted(
        [".sweep.lock", "backup-notes.txt", "keep-me", live.staging.name]
    )


def test_sweep_removes_a_killed_run_once_it_is_dead(tmp_path: Path, runs: list[_Run]) -> None:
    data = tmp_path / "data"
    run = _Run(data, "restore", None)
    runs.append(run)
    assert sweep(data) == 0
    assert run.staging.is_dir()
    run.kill()
    assert sweep(data) == 1
    assert not run.staging.exists()
    assert sweep(tmp_path / "never-used") == 0


def test_server_start_removes_what_a_killed_backup_left(
    tmp_path: Path, config_file: Path, runs: list[_Run]
) -> None:
    data = tmp_path / "data"
    partial = tmp_path / "friday.tar.gz.partial"
    killed = _Run(data, "backup", partial)
    killed.kill()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HS_", "HOMESERVER"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    # Port 0 and an immediate SIGTERM: only the start-up matters here.
    env["HOMESERVER__LISTENERS__0__PORT"] = "0"
    server = subprocess.Popen(
        [sys.executable, "-m", "homeserver", "run", "--config", str(config_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if "is ready" in line:
                break
        else:
            raise AssertionError("the server stopped before it was ready")
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert not killed.staging.exists()
    assert not partial.exists()
