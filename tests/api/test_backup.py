"""Backup and restore: a live backup restores onto the other backend; bad archives are refused."""

from __future__ import annotations

import asyncio
import io
import secrets
import tarfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from homeserver.__main__ import main
from homeserver.app import create_app
from homeserver.backup import BackupError
from homeserver.backup.dump import create_backup, verify_backup
from homeserver.backup.restore import restore_backup
from homeserver.config.model import Config
from tests.api.helpers import auth_header, login
from tests.api.rooms_helpers import new_user
from tests.conftest import _with_search_path

Client = TestClient[Any, Any]


@pytest.fixture
async def other_db_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """An empty database on the backend the test is NOT parametrised with."""
    if backend == "postgres":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    dsn: str = request.getfixturevalue("postgres_dsn")
    schema = f"r_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        yield _with_search_path(dsn, schema)
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await admin.close()


@pytest.fixture
def target_config(make_config: Callable[..., Config], other_db_url: str, tmp_path: Path) -> Config:
    return make_config(database={"url": other_db_url}, data_dir=str(tmp_path / "restored"))


async def _start(config: Config) -> Client:
    client: Client = TestClient(TestServer(create_app(config)))
    await client.start_server()
    return client


async def _upload(client: Client, token: str, data: bytes) -> str:
    resp = await client.post(
        "/_matrix/media/v3/upload",
        data=data,
        headers={**auth_header(token), "Content-Type": "application/octet-stream"},
    )
    body = await resp.json()
    assert resp.status == 200, body
    uri: str = body["content_uri"]
    return uri.removeprefix("mxc://")


async def _bodies(client: Client, token: str, room_id: str) -> list[str]:
    resp = await client.get(
        f"/_matrix/client/v3/rooms/{room_id}/messages",
        params={"dir": "f", "limit": "1000"},
        headers=auth_header(token),
    )
    data = await resp.json()
    assert resp.status == 200, data
    return [
        e["content"]["body"]
        for e in data["chunk"]
        if e["type"] == "m.room.message" and "body" in e["content"]
    ]


async def _small_backup(client_for: Callable[..., Any], config: Config, archive: Path) -> None:
    client = await client_for()
    alice = await new_user(client, "alice")
    room = await alice.create_room()
    await alice.send(room, "hello")
    await _upload(client, alice.token, b"some media bytes")
    await create_backup(config, archive)


async def test_backup_while_writing_restores_onto_other_backend(
    client_for: Callable[..., Any],
    make_config: Callable[..., Config],
    target_config: Config,
    tmp_path: Path,
) -> None:
    source = await client_for()
    alice = await new_user(source, "alice")
    room = await alice.create_room()
    blob = secrets.token_bytes(3000)
    media = await _upload(source, alice.token, blob)
    before = [f"before {i}" for i in range(5)]
    for body in before:
        await alice.send(room, body)
    sent: list[str] = []
    stop = asyncio.Event()
    warmed = asyncio.Event()

    async def keep_sending() -> None:
        i = 0
        while not stop.is_set():
            await alice.send(room, f"during {i}")
            sent.append(f"during {i}")
            if len(sent) >= 3:
                warmed.set()
            i += 1

    archive = tmp_path / "backup.tar.gz"
    async with asyncio.TaskGroup() as tg:
        tg.create_task(keep_sending())
        await warmed.wait()
        started_at = len(sent)
        manifest = await create_backup(make_config(), archive)
        finished_at = len(sent)
        stop.set()
    # Messages really were being sent while the backup ran.
    assert finished_at > started_at
    assert manifest.tables["events"].rows > 0
    assert verify_backup(archive).schema_version == manifest.schema_version

    await restore_backup(target_config, archive)
    restored = await _start(target_config)
    try:
        token = (await login(restored, "alice"))["access_token"]
        bodies = await _bodies(restored, token, room)
        # Everything sent before the backup, then a gap-free prefix of what was
        # sent while it ran: one consistent snapshot.
        assert bodies[:5] == before
        during = bodies[5:]
        assert during == sent[: len(during)]
        resp = await restored.get(
            f"/_matrix/client/v1/media/download/{media}", headers=auth_header(token)
        )
        assert resp.status == 200
        assert await resp.read() == blob
        # The restored server keeps writing after the restored stream positions.
        await alice.send(room, "unused")  # source still works too
        resp = await restored.put(
            f"/_matrix/client/v3/rooms/{room}/send/m.room.message/after-restore",
            json={"msgtype": "m.text", "body": "after restore"},
            headers=auth_header(token),
        )
        assert resp.status == 200
        assert (await _bodies(restored, token, room))[-1] == "after restore"
    finally:
        await restored.close()


async def test_restore_refuses_flipped_byte_with_clear_error(
    client_for: Callable[..., Any],
    make_config: Callable[..., Config],
    target_config: Config,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = tmp_path / "backup.tar.gz"
    await _small_backup(client_for, make_config(), archive)
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    archive.write_bytes(bytes(raw))

    with pytest.raises(BackupError, match="corrupt"):
        verify_backup(archive)
    with pytest.raises(BackupError, match="corrupt"):
        await restore_backup(target_config, archive)
    assert main(["backup", "--verify", str(archive)]) == 1
    assert "corrupt" in capsys.readouterr().err


async def test_restore_refuses_tampered_member_naming_it(
    client_for: Callable[..., Any],
    make_config: Callable[..., Config],
    target_config: Config,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "backup.tar.gz"
    await _small_backup(client_for, make_config(), archive)
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive, "r:gz") as src, tarfile.open(tampered, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member)
            assert data is not None
            content = data.read()
            if member.name == "db/users.jsonl":
                content = content.replace(b"alice", b"mallo")
            member.size = len(content)
            dst.addfile(member, io.BytesIO(content))

    with pytest.raises(BackupError, match=r"'db/users\.jsonl' is corrupt"):
        await restore_backup(target_config, tampered)


async def test_restore_refuses_truncated_archive(
    client_for: Callable[..., Any],
    make_config: Callable[..., Config],
    target_config: Config,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "backup.tar.gz"
    await _small_backup(client_for, make_config(), archive)
    raw = archive.read_bytes()
    archive.write_bytes(raw[: len(raw) * 2 // 3])

    with pytest.raises(BackupError, match="corrupt or truncated"):
        await restore_backup(target_config, archive)


async def test_restore_refuses_non_empty_database(
    client_for: Callable[..., Any],
    make_config: Callable[..., Config],
    tmp_path: Path,
) -> None:
    archive = tmp_path / "backup.tar.gz"
    config = make_config()
    await _small_backup(client_for, config, archive)

    with pytest.raises(BackupError, match="not empty"):
        await restore_backup(config, archive)


async def test_backup_cli_writes_verifiable_archive(
    client_for: Callable[..., Any],
    make_config: Callable[..., Config],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = await client_for()
    await new_user(client, "alice")
    config = make_config()
    config_file = tmp_path / "homeserver.yaml"
    config_file.write_text(
        f"server_name: {config.server_name}\ndata_dir: {config.data_dir}\n"
        f"database:\n  url: '{config.database.url}'\n",
        encoding="utf-8",
    )
    archive = tmp_path / "cli.tar.gz"

    code = await asyncio.to_thread(main, ["backup", "--config", str(config_file), str(archive)])
    assert code == 0
    assert main(["backup", "--verify", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out
    manifest = verify_backup(archive)
    assert "config/homeserver.yaml" in manifest.files
    assert "keys/signing.key" in manifest.files
    assert manifest.tables["users"].rows == 1
