"""Third-party networks served by application services (``/thirdparty/*``).

Each protocol an appservice registration lists becomes a ``Protocol`` of the
third-party service whose lookups are forwarded to the appservices that
serve it. The protocol description is fetched from the appservices at start
(bounded wait); an appservice that is not up yet is asked again on the next
``/thirdparty/protocol(s)`` request, and a minimal description is served
until one answers.
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

#: How long one attempt waits for the appservices to describe a protocol.
DESCRIBE_TIMEOUT_S = 2.0


def _placeholder() -> JsonDict:
    return {
        "user_fields": [],
        "location_fields": [],
        "icon": "",
        "field_types": {},
        "instances": [],
    }


def forwarding_protocol(name: str, queries: AppserviceQueries) -> Protocol:
    """The protocol ``name`` with lookups forwarded to its appservices, and a
    stand-in description until :func:`describe` fills it in."""

    async def locations(protocol: str, fields: Mapping[str, str]) -> list[JsonDict]:
        return await queries.thirdparty_lookup("location", protocol, dict(fields))

    async def users(protocol: str, fields: Mapping[str, str]) -> list[JsonDict]:
        return await queries.thirdparty_lookup("user", protocol, dict(fields))

    async def reverse_locations(alias: str) -> list[JsonDict]:
        return await queries.thirdparty_lookup("location", name, {"alias": alias}, reverse=True)

    async def reverse_users(user_id: str) -> list[JsonDict]:
        return await queries.thirdparty_lookup("user", name, {"userid": user_id}, reverse=True)

    async def describe() -> JsonDict | None:
        try:
            async with asyncio.timeout(DESCRIBE_TIMEOUT_S):
                return await queries.thirdparty_protocol(name)
        except TimeoutError:
            logger.warning("appservices did not describe protocol %s in time", name)
            return None

    return Protocol(
        name=name,
        description=_placeholder(),
        lookup_locations=locations,
        lookup_users=users,
        reverse_locations=reverse_locations,
        reverse_users=reverse_users,
        refresh_description=describe,
    )


async def register_protocols(thirdparty: ThirdPartyService, queries: AppserviceQueries) -> None:
    """Registers every appservice protocol, with forwarding lookups, and asks
    the appservices for the descriptions once."""
    for name in sorted(queries.protocols()):
        thirdparty.register(forwarding_protocol(name, queries))
    await thirdparty.describe_all()
