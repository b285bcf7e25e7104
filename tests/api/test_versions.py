"""GET /versions and the capabilities the later spec versions added."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.admin.admin_helpers import new_admin
from tests.api.rooms_helpers import new_user

Client = TestClient[Any, Any]


async def test_versions_lists_every_version_up_to_the_latest_met(client: Client) -> None:
    data = await (await client.get("/_matrix/client/versions")).json()
    versions = data["versions"]
    assert versions[-1] == "v1.19"
    # Every v1.x from v1.1 on: a client may pick any of them.
    assert [v for v in versions if v.startswith("v1.")] == [f"v1.{i}" for i in range(1, 20)]


async def test_capabilities_of_later_versions(client: Client) -> None:
    alice = await new_user(client, "alice")
    caps = (await alice.ok("GET", "/capabilities"))["capabilities"]
    assert caps["m.profile_fields"] == {"enabled": True}
    assert caps["m.set_displayname"] == {"enabled": True}
    assert caps["m.forget_forced_upon_leave"] == {"enabled": False}
    # Only for those who may suspend and lock accounts (spec: omit otherwise).
    assert "m.account_moderation" not in caps
    admin = await new_admin(client)
    status, data = await admin.request("GET", "/_matrix/client/v3/capabilities")
    assert status == 200
    assert data["capabilities"]["m.account_moderation"] == {"suspend": True, "lock": True}
