"""Third-party network lookups (``/thirdparty/*``).

Protocols come from the bridges (application services) registered with
the server: each registers an ``m.protocol`` description and answers
location and user queries for it. ``ThirdPartyService.protocols`` is the
registry they add to; with none registered every lookup is empty or 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from homeserver.core.errors import NotFound

JsonDict = dict[str, Any]

#: ``(protocol, fields) → matches`` (for /thirdparty/location or /user).
Lookup = Callable[[str, Mapping[str, str]], Awaitable[list[JsonDict]]]


async def _nothing(protocol: str, fields: Mapping[str, str]) -> list[JsonDict]:
    return []


@dataclass(slots=True)
class Protocol:
    """One third-party network a bridge serves."""

    name: str
    #: the spec's ``Protocol`` object (user_fields, location_fields, icon, …)
    description: JsonDict
    lookup_locations: Lookup = _nothing
    lookup_users: Lookup = _nothing
    #: ``alias → locations`` and ``userid → users`` reverse lookups
    reverse_locations: Callable[[str], Awaitable[list[JsonDict]]] | None = None
    reverse_users: Callable[[str], Awaitable[list[JsonDict]]] | None = None
    #: asks the bridge for ``description`` again, until it answers (not None);
    #: set while the description is a stand-in (the bridge was not up yet)
    refresh_description: Callable[[], Awaitable[JsonDict | None]] | None = None


@dataclass(slots=True)
class ThirdPartyService:
    #: protocol name → protocol; bridges add theirs at startup
    protocols: dict[str, Protocol] = field(default_factory=dict)

    def register(self, protocol: Protocol) -> None:
        """Adds (or replaces) a protocol."""
        self.protocols[protocol.name] = protocol

    def all_protocols(self) -> dict[str, JsonDict]:
        """Every protocol's description, by name."""
        return {name: dict(p.description) for name, p in self.protocols.items()}

    def protocol(self, name: str) -> Protocol:
        """One protocol.

        Raises:
            NotFound: no bridge serves it.
        """
        found = self.protocols.get(name)
        if found is None:
            raise NotFound("Unknown protocol")
        return found

    async def describe_all(self) -> dict[str, JsonDict]:
        """Every protocol's description, by name, asking bridges that have
        not described theirs yet once more."""
        for p in list(self.protocols.values()):
            await _refresh(p)
        return self.all_protocols()

    async def describe(self, name: str) -> JsonDict:
        """One protocol's description (asking its bridge again when needed).

        Raises:
            NotFound: no bridge serves it.
        """
        found = self.protocol(name)
        await _refresh(found)
        return dict(found.description)

    async def locations(self, name: str, fields: Mapping[str, str]) -> list[JsonDict]:
        return await self.protocol(name).lookup_locations(name, fields)

    async def users(self, name: str, fields: Mapping[str, str]) -> list[JsonDict]:
        return await self.protocol(name).lookup_users(name, fields)

    async def locations_for_alias(self, alias: str) -> list[JsonDict]:
        """Third-party locations bridged to a room alias, from every protocol."""
        out: list[JsonDict] = []
        for p in self.protocols.values():
            if p.reverse_locations is not None:
                out.extend(await p.reverse_locations(alias))
        return out

    async def users_for_user_id(self, user_id: str) -> list[JsonDict]:
        """Third-party users bridged to a Matrix user, from every protocol."""
        out: list[JsonDict] = []
        for p in self.protocols.values():
            if p.reverse_users is not None:
                out.extend(await p.reverse_users(user_id))
        return out


async def _refresh(protocol: Protocol) -> None:
    if protocol.refresh_description is None:
        return
    found = await protocol.refresh_description()
    if found is not None:
        protocol.description = found
        protocol.refresh_description = None
