"""TURN credentials (GET /voip/turnServer), checked against a real coturn.

The coturn test speaks just enough STUN/TURN (RFC 8489, RFC 8656) to make an
Allocate request with the long-term credential mechanism.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st

from homeserver.services.clock import FakeClock
from tests.api.helpers import auth_header
from tests.api.rooms_helpers import new_user
from tests.api.test_accounts_fuzz import FUZZ, _check

Client = TestClient[Any, Any]
TURN_SERVER = "/_matrix/client/v3/voip/turnServer"
SECRET = "coturn-static-secret"


async def _turn(client: Client, token: str) -> tuple[int, Any]:
    resp = await client.get(TURN_SERVER, headers=auth_header(token))
    return resp.status, await resp.json()


async def test_turn_server_empty_when_unconfigured(client: Client) -> None:
    alice = await new_user(client, "alice")
    assert await _turn(client, alice.token) == (200, {})


async def test_turn_shared_secret_credentials(client_for: Any) -> None:
    clock = FakeClock(1_700_000_000_000)
    client = await client_for(
        clock=clock,
        voip={
            "turn_uris": ["turn:turn.test.local:3478?transport=udp"],
            "turn_shared_secret": SECRET,
            "turn_user_lifetime_ms": 3_600_000,
        },
    )
    alice = await new_user(client, "alice")
    status, body = await _turn(client, alice.token)
    assert status == 200
    assert body["uris"] == ["turn:turn.test.local:3478?transport=udp"]
    assert body["ttl"] == 3600
    assert body["username"] == f"{1_700_000_000 + 3600}:{alice.user_id}"
    expected = hmac.new(SECRET.encode(), body["username"].encode(), hashlib.sha1).digest()
    assert base64.b64decode(body["password"]) == expected


async def test_turn_static_credentials(client_for: Any) -> None:
    client = await client_for(
        voip={"turn_uris": ["turn:t.example"], "turn_username": "u", "turn_password": "p"}
    )
    alice = await new_user(client, "alice")
    status, body = await _turn(client, alice.token)
    assert (status, body["username"], body["password"]) == (200, "u", "p")


async def _guest_token(client: Client) -> str:
    resp = await client.post("/_matrix/client/v3/register?kind=guest", json={})
    assert resp.status == 200
    token: str = (await resp.json())["access_token"]
    return token


async def test_turn_guests_configurable(client_for: Any) -> None:
    voip = {"turn_uris": ["turn:t.example"], "turn_shared_secret": SECRET}
    allowed = await client_for(registration={"allow_guests": True}, voip=voip)
    status, body = await _turn(allowed, await _guest_token(allowed))
    assert status == 200
    assert "username" in body
    refused = await client_for(
        registration={"allow_guests": True}, voip={**voip, "turn_allow_guests": False}
    )
    assert await _turn(refused, await _guest_token(refused)) == (200, {})


async def test_turn_server_needs_auth(client: Client) -> None:
    resp = await client.get(TURN_SERVER)
    assert resp.status == 401
    assert (await resp.json())["errcode"] == "M_MISSING_TOKEN"


@FUZZ
@given(params=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))
async def test_turn_server_random_params_never_500(client: Client, params: dict[str, str]) -> None:
    if not hasattr(client, "_fuzz_user"):
        client._fuzz_user = await new_user(client, "fuzzer")  # type: ignore[attr-defined]
    user = client._fuzz_user  # type: ignore[attr-defined]
    await _check(await client.get(TURN_SERVER, params=params, headers=user.headers))


# --- a real coturn ------------------------------------------------------------

MAGIC_COOKIE = 0x2112A442
ALLOCATE_REQUEST = 0x0003
ALLOCATE_SUCCESS = 0x0103
ALLOCATE_ERROR = 0x0113
ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_ERROR_CODE = 0x0009
ATTR_REALM = 0x0014
ATTR_NONCE = 0x0015
ATTR_REQUESTED_TRANSPORT = 0x0019
UDP = 17


def _attr(kind: int, value: bytes) -> bytes:
    padding = b"\x00" * (-len(value) % 4)
    return struct.pack("!HH", kind, len(value)) + value + padding


def _message(kind: int, txn_id: bytes, attrs: bytes, integrity_key: bytes | None) -> bytes:
    if integrity_key is None:
        return struct.pack("!HHI", kind, len(attrs), MAGIC_COOKIE) + txn_id + attrs
    # MESSAGE-INTEGRITY covers the header with the length already counting it.
    header = struct.pack("!HHI", kind, len(attrs) + 24, MAGIC_COOKIE) + txn_id
    mac = hmac.new(integrity_key, header + attrs, hashlib.sha1).digest()
    return header + attrs + _attr(ATTR_MESSAGE_INTEGRITY, mac)


def _parse(data: bytes) -> tuple[int, dict[int, bytes]]:
    kind, length, cookie = struct.unpack("!HHI", data[:8])
    assert cookie == MAGIC_COOKIE
    attrs: dict[int, bytes] = {}
    offset = 20
    while offset < 20 + length:
        attr_kind, attr_len = struct.unpack("!HH", data[offset : offset + 4])
        attrs.setdefault(attr_kind, data[offset + 4 : offset + 4 + attr_len])
        offset += 4 + attr_len + (-attr_len % 4)
    return kind, attrs


def _error_code(attrs: dict[int, bytes]) -> int:
    value = attrs[ATTR_ERROR_CODE]
    return (value[2] & 0x7) * 100 + value[3]


def _exchange(sock: socket.socket, port: int, request: bytes) -> tuple[int, dict[int, bytes]]:
    for _ in range(5):  # UDP: retransmit, as STUN clients do
        sock.sendto(request, ("127.0.0.1", port))
        try:
            data, _ = sock.recvfrom(4096)
        except TimeoutError:
            continue
        return _parse(data)
    raise AssertionError("no answer from coturn")


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    return sock


def turn_allocate(port: int, username: str, password: str) -> tuple[int, int | None]:
    """Allocate with the long-term credential mechanism; returns (type, error code).

    Both requests go from one socket: coturn ties the nonce to the client address.
    """
    transport = _attr(ATTR_REQUESTED_TRANSPORT, bytes([UDP, 0, 0, 0]))
    with _udp_socket() as sock:
        first = _message(ALLOCATE_REQUEST, secrets.token_bytes(12), transport, None)
        kind, attrs = _exchange(sock, port, first)
        assert kind == ALLOCATE_ERROR, (kind, attrs)
        assert _error_code(attrs) == 401, attrs
        realm, nonce = attrs[ATTR_REALM], attrs[ATTR_NONCE]
        # The long-term credential key (RFC 8489 9.2.2): MD5(username:realm:password).
        key = hashlib.md5(username.encode() + b":" + realm + b":" + password.encode()).digest()
        body = (
            transport
            + _attr(ATTR_USERNAME, username.encode())
            + _attr(ATTR_REALM, realm)
            + _attr(ATTR_NONCE, nonce)
        )
        second = _message(ALLOCATE_REQUEST, secrets.token_bytes(12), body, key)
        kind, attrs = _exchange(sock, port, second)
    return kind, (_error_code(attrs) if ATTR_ERROR_CODE in attrs else None)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def coturn() -> Iterator[int]:
    """A coturn on 127.0.0.1 with a static auth secret; yields its UDP port."""
    binary = shutil.which("turnserver") or (
        "/usr/bin/turnserver" if Path("/usr/bin/turnserver").exists() else None
    )
    if binary is None:
        reason = "coturn's turnserver not found; install Debian's coturn package"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI requires coturn: {reason}")
        pytest.skip(reason)
    port = _free_udp_port()
    workdir = Path(tempfile.mkdtemp(prefix="hs-test-coturn-"))
    relay_min = 40000 + secrets.randbelow(20000)
    proc = subprocess.Popen(
        [
            binary,
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            f"--min-port={relay_min}",
            f"--max-port={relay_min + 50}",
            "--use-auth-secret",
            f"--static-auth-secret={SECRET}",
            "--realm=test.local",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--no-rfc5780",
            "--log-file=stdout",
            f"--userdb={workdir / 'turndb'}",
            f"--pidfile={workdir / 'turnserver.pid'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with _udp_socket() as sock:
                    _exchange(sock, port, _message(0x0001, secrets.token_bytes(12), b"", None))
                break
            except AssertionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                    raise RuntimeError(f"coturn did not start:\n{out}") from None
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


async def test_coturn_accepts_our_credentials_and_refuses_wrong_password(
    client_for: Any, coturn: int
) -> None:
    client = await client_for(
        voip={"turn_uris": [f"turn:127.0.0.1:{coturn}?transport=udp"], "turn_shared_secret": SECRET}
    )
    alice = await new_user(client, "alice")
    status, body = await _turn(client, alice.token)
    assert status == 200
    kind, error = await asyncio.to_thread(turn_allocate, coturn, body["username"], body["password"])
    assert (kind, error) == (ALLOCATE_SUCCESS, None)
    kind, error = await asyncio.to_thread(turn_allocate, coturn, body["username"], "wrong")
    assert (kind, error) == (ALLOCATE_ERROR, 401)
