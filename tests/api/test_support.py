"""GET /.well-known/matrix/support."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from homeserver.config.load import ConfigError

PATH = "/.well-known/matrix/support"


async def test_support_unset_is_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get(PATH)
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_support_serves_configured_contacts(client_for: Any) -> None:
    client = await client_for(
        well_known={
            "support": {
                "contacts": [
                    {"role": "m.role.admin", "matrix_id": "@admin:test.local"},
                    {"role": "m.role.security", "email_address": "sec@test.local"},
                ],
                "support_page": "https://test.local/help",
            }
        }
    )
    resp = await client.get(PATH)
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert await resp.json() == {
        "contacts": [
            {"role": "m.role.admin", "matrix_id": "@admin:test.local"},
            {"role": "m.role.security", "email_address": "sec@test.local"},
        ],
        "support_page": "https://test.local/help",
    }


async def test_support_page_only(client_for: Any) -> None:
    client = await client_for(well_known={"support": {"support_page": "https://x.test/"}})
    resp = await client.get(PATH)
    assert await resp.json() == {"support_page": "https://x.test/"}


@pytest.mark.parametrize(
    "support",
    [{}, {"contacts": [{"role": "m.role.admin"}]}, {"contacts": [{"matrix_id": "@a:b"}]}],
)
async def test_support_invalid_config_rejected(client_for: Any, support: Any) -> None:
    with pytest.raises(ConfigError):
        await client_for(well_known={"support": support})
