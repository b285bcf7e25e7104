"""GET /metrics on the metrics listener and GET /health everywhere."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.rooms_helpers import new_user

Client = TestClient[Any, Any]


async def test_metrics_counts_requests_and_events(client: Client) -> None:
    bob = await new_user(client, "bob")
    room_id = await bob.create_room()
    await bob.send(room_id)
    resp = await client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    assert 'route="/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"' in text
    assert 'status="200"' in text
    assert "homeserver_http_request_duration_seconds_bucket" in text
    assert "homeserver_sync_waiters 0.0" in text
    persisted = [
        line for line in text.splitlines() if line.startswith("homeserver_events_persisted_total")
    ]
    assert float(persisted[0].split()[1]) >= 1


async def test_health_answers_ok(client: Client) -> None:
    resp = await client.get("/health")
    assert resp.status == 200
    assert await resp.text() == "OK"
