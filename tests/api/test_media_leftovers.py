"""Start-up removes the partial files that a killed server left in the media store's tmp/."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.api.helpers import auth_header, register_user

REPO = Path(__file__).resolve().parents[2]
UPLOAD = "/_matrix/media/v3/upload"


def _plant(media: Path) -> tuple[list[Path], list[Path]]:
    """Leftovers of a killed upload and thumbnail, and files that are not ours to remove."""
    tmp = media / "tmp"
    tmp.mkdir(parents=True)
    leftovers = [tmp / "up-k1ll3d", tmp / "up-k1ll3d.link", tmp / "th-half"]
    for path in leftovers:
        path.write_bytes(b"half an upload")
    content = media / "local_content" / "ab" / "cd" / "efghijklmnopqrstuvwx"
    content.parent.mkdir(parents=True)
    content.write_bytes(b"a finished upload")
    (tmp / "up-a-directory").mkdir()
    kept = [content, tmp / "notes.txt", tmp / "up-a-directory"]
    (tmp / "notes.txt").write_text("someone else's file")
    return leftovers, kept


async def test_start_removes_partial_uploads_and_thumbnails_only(
    client_for: Callable[..., Any], tmp_path: Path
) -> None:
    media = tmp_path / "store"
    leftovers, kept = _plant(media)

    client = await client_for(media={"store_path": str(media)})

    assert [p for p in leftovers if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    token = (await register_user(client, "alice"))["access_token"]
    resp = await client.post(
        UPLOAD, data=b"after the clean-up", headers={**auth_header(token), "Content-Type": "a/b"}
    )
    assert resp.status == 200, await resp.text()


# --- a real server process, killed with SIGKILL in the middle of an upload ---------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HS_", "HOMESERVER"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["HOMESERVER__LISTENERS__0__PORT"] = str(port)
    env["HOMESERVER__REGISTRATION__ENABLED"] = "true"
    env["HOMESERVER__RATE_LIMITS__ENABLED"] = "false"
    return subprocess.Popen(
        [sys.executable, "-m", "homeserver", "run"],
        cwd=workdir,
        env=env,
        stdout=(workdir / f"server-{port}.log").open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _wait_until_up(proc: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the server exited"
            try:
                async with http.get(f"{base}/_matrix/client/versions") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not answer within 60 s")


def _partial_uploads(tmp: Path) -> list[Path]:
    return [p for p in tmp.glob("up-*") if p.stat().st_size > 0] if tmp.is_dir() else []


async def test_upload_cut_by_sigkill_leaves_nothing_after_restart(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    tmp = tmp_path / "data" / "media" / "tmp"
    server = _start_server(tmp_path, port)
    try:
        await _wait_until_up(server, base)
        async with aiohttp.ClientSession() as http:
            body = {
                "username": "alice",
                "password": "pw-12345678",
                "auth": {"type": "m.login.dummy"},
            }
            async with http.post(f"{base}/_matrix/client/v3/register", json=body) as resp:
                token = (await resp.json())["access_token"]
            sent = asyncio.Event()

            async def slow_body() -> AsyncIterator[bytes]:
                yield b"x" * (3 * 1024 * 1024)  # past one write batch: on disk
                sent.set()
                await asyncio.sleep(3600)
                yield b""

            upload = asyncio.create_task(
                http.post(
                    f"{base}{UPLOAD}",
                    data=slow_body(),
                    headers={**auth_header(token), "Content-Type": "application/octet-stream"},
                )
            )
            await sent.wait()
            deadline = time.monotonic() + 30
            while not _partial_uploads(tmp):
                assert time.monotonic() < deadline, "no partial upload appeared in tmp/"
                await asyncio.sleep(0.05)
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
            upload.cancel()
            with pytest.raises((asyncio.CancelledError, aiohttp.ClientError)):
                await upload
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    assert _partial_uploads(tmp), "the killed upload should have left its partial file"
    (tmp / "notes.txt").write_text("not ours")

    server = _start_server(tmp_path, port)
    try:
        await _wait_until_up(server, base)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert sorted(p.name for p in tmp.iterdir()) == ["notes.txt"]
