"""Shared-secret registration: /_synapse/admin/v1/register."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import services_of

Client = TestClient[Any, Any]
PATH = "/_synapse/admin/v1/register"


def _mac(nonce: str, user: str, password: str, admin: bool, user_type: str | None = None) -> str:
    # Written out independently of the server's helper, from the protocol description.
    parts = [nonce, user, password, "admin" if admin else "notadmin"]
    if user_type is not None:
        parts.append(user_type)
    return hmac.new(b"s3cret", "\x00".join(parts).encode(), hashlib.sha1).hexdigest()


async def _nonce(client: Client) -> str:
    resp = await client.get(PATH)
    assert resp.status == 200
    nonce: str = (await resp.json())["nonce"]
    return nonce


async def test_shared_secret_registration_creates_admin(client: Client) -> None:
    nonce = await _nonce(client)
    resp = await client.post(
        PATH,
        json={
            "nonce": nonce,
            "username": "Root",
            "password": "pw",
            "admin": True,
            "mac": _mac(nonce, "Root", "pw", True),
        },
    )
    body = await resp.json()
    assert resp.status == 200
    assert body["user_id"] == "@root:test.local"
    requester = await services_of(client).tokens.requester_for_token(body["access_token"])
    assert requester.is_admin is True


async def test_shared_secret_registration_with_user_type(client: Client) -> None:
    nonce = await _nonce(client)
    resp = await client.post(
        PATH,
        json={
            "nonce": nonce,
            "username": "bot",
            "password": "pw",
            "user_type": "bot",
            "mac": _mac(nonce, "bot", "pw", False, "bot"),
        },
    )
    assert resp.status == 200


async def test_shared_secret_wrong_mac_is_forbidden(client: Client) -> None:
    nonce = await _nonce(client)
    resp = await client.post(
        PATH,
        json={
            "nonce": nonce,
            "username": "x",
            "password": "pw",
            "mac": _mac(nonce, "x", "pw", True),
        },
    )
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


async def test_shared_secret_nonce_is_single_use(client: Client) -> None:
    nonce = await _nonce(client)
    body = {"nonce": nonce, "username": "x", "password": "pw", "mac": _mac(nonce, "x", "pw", False)}
    assert (await client.post(PATH, json=body)).status == 200
    again = await client.post(
        PATH, json={**body, "username": "y", "mac": _mac(nonce, "y", "pw", False)}
    )
    assert again.status == 400


async def test_shared_secret_unknown_nonce_is_rejected(client: Client) -> None:
    resp = await client.post(
        PATH,
        json={
            "nonce": "abc",
            "username": "x",
            "password": "pw",
            "mac": _mac("abc", "x", "pw", False),
        },
    )
    assert resp.status == 400


async def test_shared_secret_taken_username_is_user_in_use(client: Client) -> None:
    for expected in (200, 400):
        nonce = await _nonce(client)
        resp = await client.post(
            PATH,
            json={
                "nonce": nonce,
                "username": "x",
                "password": "pw",
                "mac": _mac(nonce, "x", "pw", False),
            },
        )
        assert resp.status == expected


async def test_shared_secret_disabled_without_secret(client_for: Any) -> None:
    client = await client_for(registration={"shared_secret": None})
    resp = await client.get(PATH)
    body = await resp.json()
    assert resp.status == 404
    assert "not enabled" in body["error"]
