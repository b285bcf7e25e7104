"""Third-party networks served by application services (``/thirdparty/*``).

Each protocol an appservice registration lists becomes a ``Protocol`` of the
third-party service whose lookups are forwarded to the appservices that
serve it. The protocol description is fetched from the appservice at start
(bounded wait); until it answers, a minimal description is served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from homeserver.services.appservice.queries import AppserviceQueries
from homeserver.services.thirdparty import Protocol, ThirdPartyService

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: How long start-up waits for an appservice to describe its protocol.
DESCRIBE_TIMEOUT_S = 2.0


def _placeholder() -> JsonDict:
    return {
        "user_fields": [],
        "location_fields": [],
        "icon": "",
        "field_types": {},
        "instances": [],
    }


async def register_protocols(thirdparty: ThirdPartyService, queries: AppserviceQueries) -> None:
    """Registers every appservice protocol, with forwarding lookups."""
    for name in sorted(queries.protocols()):

        async def locations(protocol: str, fields: Mapping[str, str]) -> list[JsonDict]:
            return await queries.thirdparty_lookup("location", protocol, dict(fields))

        async def users(protocol: str, fields: Mapping[str, str]) -> list[JsonDict]:
            return await queries.thirdparty_lookup("user", protocol, dict(fields))

        async def reverse_locations(alias: str) -> list[JsonDict]:
            return await queries.thirdparty_lookup("location", None, {"alias": alias})

        async def reverse_users(user_id: str) -> list[JsonDict]:
            return await queries.thirdparty_lookup("user", None, {"userid": user_id})

        description = _placeholder()
        try:
            async with asyncio.timeout(DESCRIBE_TIMEOUT_S):
                found = await queries.thirdparty_protocol(name)
            if found is not None:
                description = found
        except (TimeoutError, OSError):
            logger.warning("appservice did not describe protocol %s in time", name)
        thirdparty.register(
            Protocol(
                name=name,
                description=description,
                lookup_locations=locations,
                lookup_users=users,
                reverse_locations=reverse_locations,
                reverse_users=reverse_users,
            )
        )
