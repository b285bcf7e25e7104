"""Key publication (/_matrix/key/v2/server) and /_matrix/federation/v1/version."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import SignatureVerifyException, verify_signed_json
from unpaddedbase64 import decode_base64

from tests.api.helpers import services_of

Client = TestClient[Any, Any]
KEYS = "/_matrix/key/v2/server"


async def test_server_keys_signature_verifies_with_published_key(client: Client) -> None:
    resp = await client.get(KEYS)
    assert resp.status == 200
    body = await resp.json()
    assert body["server_name"] == "test.local"
    assert body["old_verify_keys"] == {}
    ((key_id, entry),) = body["verify_keys"].items()
    # Verified with signedjson directly, not through the server's own helpers.
    algorithm, version = key_id.split(":", 1)
    verify_key = decode_verify_key_bytes(key_id, decode_base64(entry["key"]))
    assert algorithm == "ed25519"
    assert verify_key.version == version
    verify_signed_json(body, "test.local", verify_key)


async def test_server_keys_publish_the_signing_key_in_use(client: Client) -> None:
    services = services_of(client)
    body = await (await client.get(KEYS)).json()
    key = services.signing_key
    assert list(body["verify_keys"]) == [f"{key.alg}:{key.version}"]
    assert body["valid_until_ts"] > services.clock.time_ms()


async def test_server_keys_signature_breaks_when_body_changes(client: Client) -> None:
    body = await (await client.get(KEYS)).json()
    ((key_id, entry),) = body["verify_keys"].items()
    verify_key = decode_verify_key_bytes(key_id, decode_base64(entry["key"]))
    body["valid_until_ts"] += 1
    with pytest.raises(SignatureVerifyException):
        verify_signed_json(body, "test.local", verify_key)


async def test_server_keys_by_key_id_returns_our_key(client: Client) -> None:
    key = services_of(client).signing_key
    resp = await client.get(f"{KEYS}/{key.alg}:{key.version}")
    assert resp.status == 200
    assert f"{key.alg}:{key.version}" in (await resp.json())["verify_keys"]


async def test_server_keys_by_unknown_key_id_not_found(client: Client) -> None:
    resp = await client.get(f"{KEYS}/ed25519:nope")
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_federation_version_names_the_server(client: Client) -> None:
    resp = await client.get("/_matrix/federation/v1/version")
    assert resp.status == 200
    server = (await resp.json())["server"]
    assert server["name"] == "homeserver"
    assert isinstance(server["version"], str)
    assert server["version"]


async def test_key_query_answers_for_our_own_server_only(client: Client) -> None:
    """The notary endpoints: our keys when asked for; other servers are left
    out (their keys are not fetched yet); a wrong method is 405."""
    ours = await (await client.get(KEYS)).json()
    key_id = next(iter(ours["verify_keys"]))
    query = "/_matrix/key/v2/query"
    for body in (
        {"server_keys": {"test.local": {}}},
        {"server_keys": {"test.local": {key_id: {"minimum_valid_until_ts": 0}}}},
    ):
        resp = await client.post(query, json=body)
        assert resp.status == 200
        (answer,) = (await resp.json())["server_keys"]
        assert answer["server_name"] == "test.local"
        assert answer["verify_keys"] == ours["verify_keys"]
    for body in (
        {"server_keys": {"other.example": {}}},
        {"server_keys": {"test.local": {"ed25519:nope": {}}}},
    ):
        resp = await client.post(query, json=body)
        assert (await resp.json()) == {"server_keys": []}
    resp = await client.get(f"{query}/test.local")
    assert [k["server_name"] for k in (await resp.json())["server_keys"]] == ["test.local"]
    resp = await client.get(f"{query}/other.example")
    assert (await resp.json()) == {"server_keys": []}
    resp = await client.post(query, json={"server_keys": []})
    assert resp.status == 400
    resp = await client.put(query, json={})
    assert resp.status == 405
