"""Which users, aliases and rooms an application service is interested in.

Regexes are compiled once and matched against the whole identifier
(``fullmatch``), as Synapse does. A room is interesting when its id matches
the rooms namespace, one of its aliases matches the aliases namespace, or
one of its members (any membership) matches the users namespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from homeserver.core.ids import make_user_id, parse_server_name
from homeserver.services.appservice.registration import NamespaceEntry, Registration


@dataclass(frozen=True, slots=True)
class Namespace:
    patterns: tuple[tuple[re.Pattern[str], bool], ...]

    @classmethod
    def of(cls, entries: Iterable[NamespaceEntry]) -> Namespace:
        return cls(tuple((re.compile(e.regex), e.exclusive) for e in entries))

    def matches(self, value: str) -> bool:
        return any(p.fullmatch(value) for p, _ in self.patterns)

    def matches_exclusive(self, value: str) -> bool:
        return any(exclusive and p.fullmatch(value) for p, exclusive in self.patterns)


@dataclass(frozen=True, slots=True)
class AppService:
    """A loaded registration with its compiled namespaces."""

    registration: Registration
    sender: str
    users: Namespace
    aliases: Namespace
    rooms: Namespace
    protocols: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, reg: Registration, server_name: str) -> AppService:
        return cls(
            registration=reg,
            sender=make_user_id(reg.sender_localpart, parse_server_name(server_name)),
            users=Namespace.of(reg.namespaces.users),
            aliases=Namespace.of(reg.namespaces.aliases),
            rooms=Namespace.of(reg.namespaces.rooms),
            protocols=frozenset(reg.protocols),
        )

    @property
    def id(self) -> str:
        return self.registration.id

    def is_interested_in_user(self, user_id: str) -> bool:
        """Its sender, or a user in its users namespace."""
        return user_id == self.sender or self.users.matches(user_id)

    def is_interested_in_room(
        self, room_id: str, aliases: Iterable[str], members: Iterable[str]
    ) -> bool:
        """The room id, one of the aliases or one of the members is in its namespaces."""
        if self.rooms.matches(room_id):
            return True
        if any(self.aliases.matches(a) for a in aliases):
            return True
        return any(self.is_interested_in_user(m) for m in members)


def exclusive_owner(services: Iterable[AppService], user_id: str) -> AppService | None:
    """The appservice that claims ``user_id`` exclusively, if any."""
    for svc in services:
        if svc.users.matches_exclusive(user_id) or user_id == svc.sender:
            return svc
    return None


def may_claim_alias(services: Iterable[AppService], user_id: str, alias: str) -> bool:
    """Whether an ordinary user may create or remove ``alias`` (Synapse's
    ``can_modify_alias``): an appservice's sender may touch any alias in its
    aliases namespace; anyone else only aliases no appservice claims
    exclusively."""
    interested = [s for s in services if s.aliases.matches(alias)]
    if any(user_id == s.sender for s in interested):
        return True
    return not any(s.aliases.matches_exclusive(alias) for s in interested)
