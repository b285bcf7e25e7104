"""A small DSL that builds rooms as DAGs of PDUs for auth and state res tests.

Example::

    room = RoomBuilder(V10, creator=ALICE)        # create, join, power levels, join rules
    room.join(BOB)
    room.set_power(ALICE, {BOB: 50})
    fork = room.fork()                            # shares history, diverges from here
    fork.ban(ALICE, BOB)
    room.send(BOB, "m.room.topic", {"topic": "hi"}, state_key="")
    merge = room.send(ALICE, "m.room.message", {}, prev_events=[room.head, fork.head])

Events are plain ``PDU(event_id, room_version, data)`` with readable fake IDs
(``$3-member-bob``, plus ``:server`` in v1/v2), fake signatures from the
servers the auth rules require, and ``origin_server_ts`` increasing by one per
event (shared by all forks). No hashing or real signing happens.

Every builder keeps a linear history: an event's ``prev_events`` is the
builder's previous event (or what is passed), its ``auth_events`` are chosen
from the builder's current state with ``auth_types_for_event``, and, unless
``check=False``, it is checked with ``check_auth_rules`` before it is added.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeserver.core.auth import (
    auth_types_for_event,
    check_auth_rules,
    required_signature_servers,
)
from homeserver.core.events import PDU, StateKey
from homeserver.core.room_versions import V10, EventFormat, RoomVersion

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
CHARLIE = "@charlie:example.org"
DAVE = "@dave:other.example"
EVE = "@eve:evil.example"
ZARA = "@zara:example.org"

__all__ = [
    "ALICE",
    "BOB",
    "CHARLIE",
    "DAVE",
    "EVE",
    "ZARA",
    "RoomBuilder",
    "make_pdu",
    "server_of",
]


def server_of(user_id: str) -> str:
    """The server name of a user ID (tests only use well-formed IDs)."""
    return user_id.split(":", 1)[1]


def make_pdu(
    room_version: RoomVersion,
    event_id: str,
    *,
    room_id: str | None,
    sender: str,
    type: str,
    content: Mapping[str, Any],
    state_key: str | None = None,
    prev_events: Sequence[str] = (),
    auth_events: Sequence[str] = (),
    depth: int = 1,
    origin_server_ts: int = 0,
    redacts: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> PDU:
    """Builds a PDU with explicit references, in the room version's format.

    Args:
        room_version: the version the event is built for.
        event_id: its ID (written into the event for the v1/v2 format).
        room_id: the room ID; None leaves it out (v12 create events).
        sender: the sender.
        type: the event type.
        content: the content (copied).
        state_key: the state key, for state events.
        prev_events: IDs of the previous events.
        auth_events: IDs of the auth events.
        depth: the depth.
        origin_server_ts: the timestamp.
        redacts: for redactions, the redacted event (top level before v11,
            in content from v11).
        extra: further top-level keys, which override the computed ones
            (e.g. ``signatures``).

    Returns:
        The PDU, with a fake signature by each server the auth rules need.
    """
    v1_refs = room_version.event_format is EventFormat.V1

    def refs(ids: Sequence[str]) -> list[Any]:
        return [[i, {"sha256": "fake"}] for i in ids] if v1_refs else list(ids)

    body = dict(content)
    data: dict[str, Any] = {
        "type": type,
        "sender": sender,
        "content": body,
        "prev_events": refs(prev_events),
        "auth_events": refs(auth_events),
        "depth": depth,
        "origin_server_ts": origin_server_ts,
        "hashes": {"sha256": "fake"},
    }
    if room_id is not None:
        data["room_id"] = room_id
    if state_key is not None:
        data["state_key"] = state_key
    if v1_refs:
        data["event_id"] = event_id
    if redacts is not None:
        if room_version.updated_redaction_rules:
            body["redacts"] = redacts
        else:
            data["redacts"] = redacts
    data["signatures"] = {}
    pdu = PDU(event_id, room_version, data)
    data["signatures"] = {s: {"ed25519:fake": "fake"} for s in required_signature_servers(pdu)}
    if extra:
        data.update(extra)
        pdu = PDU(event_id, room_version, data)
    return pdu


@dataclass
class _Shared:
    """What all forks of one room share: the ID counter and every event."""

    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    events_by_id: dict[str, PDU] = field(default_factory=dict)
    state_after: dict[str, dict[StateKey, PDU]] = field(default_factory=dict)


class RoomBuilder:
    """Builds one branch of a room; ``fork()`` starts another branch.

    Attributes:
        room_version: the room's version.
        room_id: the room's ID.
        create_event: the ``m.room.create`` event.
        events: this branch's events, oldest first (shared prefix included).
        state: the state after this branch's last event.
        check: whether new events are checked with the auth rules.
    """

    def __init__(
        self,
        room_version: RoomVersion = V10,
        creator: str = ALICE,
        *,
        join_rule: str | None = "public",
        power_levels: Mapping[str, Any] | None = None,
        additional_creators: Sequence[str] = (),
        create_content: Mapping[str, Any] | None = None,
        check: bool = True,
    ) -> None:
        """Creates the room: create event, creator's join, power levels, join rules.

        Args:
            room_version: the room's version.
            creator: the sender of the create event.
            join_rule: the initial join rule; None sends no join rules event.
            power_levels: the initial power levels content; by default the
                creator has 100 (not listed in v12, where creators may not be).
            additional_creators: v12 ``additional_creators``.
            create_content: extra content for the create event.
            check: check each new event against the auth rules.
        """
        self.room_version = room_version
        self.check = check
        self._shared = _Shared()
        self.events: list[PDU] = []
        self.state: dict[StateKey, PDU] = {}
        self.creator = creator

        content: dict[str, Any] = {"room_version": room_version.identifier}
        if not room_version.implicit_room_creator:
            content["creator"] = creator
        if additional_creators:
            content["additional_creators"] = list(additional_creators)
        content.update(create_content or {})
        create_id = self._new_id("create", creator, creator)
        if room_version.room_id_from_create_event:
            self.room_id = "!" + create_id[1:]
            room_id: str | None = None
        else:
            self.room_id = f"!room:{server_of(creator)}"
            room_id = self.room_id
        create = make_pdu(
            room_version,
            create_id,
            room_id=room_id,
            sender=creator,
            type="m.room.create",
            content=content,
            state_key="",
            origin_server_ts=self._ts(),
        )
        self.create_event = create
        self.append(create)
        self.join(creator)
        if power_levels is None:
            users = {} if room_version.privileged_creators else {creator: 100}
            power_levels = {"users": users, "users_default": 0}
        self.set_power_levels(creator, power_levels)
        if join_rule is not None:
            self.set_join_rule(creator, join_rule)

    # --- reading ------------------------------------------------------------

    @property
    def head(self) -> str:
        """The ID of this branch's last event."""
        return self.events[-1].event_id

    def event(self, event_id: str) -> PDU:
        """Any event of the room (from any fork) by ID."""
        return self._shared.events_by_id[event_id]

    @property
    def all_events(self) -> Mapping[str, PDU]:
        """Every event built for this room, across forks, by ID."""
        return self._shared.events_by_id

    def state_after(self, event_id: str) -> dict[StateKey, PDU]:
        """The state after ``event_id`` on the branch that added it (a copy)."""
        return dict(self._shared.state_after[event_id])

    def member(self, user_id: str) -> PDU | None:
        """The current membership event of ``user_id`` on this branch."""
        return self.state.get(("m.room.member", user_id))

    # --- building -----------------------------------------------------------

    def fork(self) -> RoomBuilder:
        """A new branch that shares this branch's history and diverges now."""
        other = object.__new__(RoomBuilder)
        other.room_version = self.room_version
        other.check = self.check
        other._shared = self._shared
        other.events = list(self.events)
        other.state = dict(self.state)
        other.creator = self.creator
        other.room_id = self.room_id
        other.create_event = self.create_event
        return other

    def propose(
        self,
        sender: str,
        type: str,
        content: Mapping[str, Any],
        state_key: str | None = None,
        *,
        prev_events: Iterable[str] | None = None,
        auth_events: Iterable[str] | None = None,
        redacts: str | None = None,
        event_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> PDU:
        """Builds the next event of this branch without adding or checking it.

        ``prev_events`` defaults to the branch head; ``auth_events`` to the
        auth events selected from the current state.
        """
        prev = [self.head] if prev_events is None else list(prev_events)
        if auth_events is None:
            keys = auth_types_for_event(self.room_version, type, state_key, sender, content)
            auth = [self.state[k].event_id for k in sorted(keys) if k in self.state]
        else:
            auth = list(auth_events)
        eid = event_id or self._new_id(_slug(type, content), state_key or sender, sender)
        depth = max((self._shared.events_by_id[p].depth for p in prev), default=0) + 1
        return make_pdu(
            self.room_version,
            eid,
            room_id=self.room_id,
            sender=sender,
            type=type,
            content=content,
            state_key=state_key,
            prev_events=prev,
            auth_events=auth,
            depth=depth,
            origin_server_ts=self._ts(),
            redacts=redacts,
            extra=extra,
        )

    def send(
        self,
        sender: str,
        type: str,
        content: Mapping[str, Any],
        state_key: str | None = None,
        **kwargs: Any,
    ) -> PDU:
        """Builds, checks (unless ``check`` is off) and adds the next event.

        Keyword arguments are those of :meth:`propose`.

        Raises:
            AuthRuleViolation: the event is not allowed in the current state.
        """
        pdu = self.propose(sender, type, content, state_key, **kwargs)
        if self.check:
            check_auth_rules(pdu, self.state)
        return self.append(pdu)

    def append(self, pdu: PDU) -> PDU:
        """Adds an already built event to this branch (no checks)."""
        self._shared.events_by_id[pdu.event_id] = pdu
        self.events.append(pdu)
        if pdu.state_key is not None:
            self.state[pdu.state_tuple] = pdu
        self._shared.state_after[pdu.event_id] = dict(self.state)
        return pdu

    # --- shortcuts ----------------------------------------------------------

    def join(self, user_id: str, **content: Any) -> PDU:
        return self._member(user_id, user_id, "join", content)

    def invite(self, by: str, user_id: str, **content: Any) -> PDU:
        return self._member(by, user_id, "invite", content)

    def leave(self, user_id: str, **content: Any) -> PDU:
        return self._member(user_id, user_id, "leave", content)

    def kick(self, by: str, user_id: str, **content: Any) -> PDU:
        return self._member(by, user_id, "leave", content)

    def ban(self, by: str, user_id: str, **content: Any) -> PDU:
        return self._member(by, user_id, "ban", content)

    def knock(self, user_id: str, **content: Any) -> PDU:
        return self._member(user_id, user_id, "knock", content)

    def set_power(self, by: str, users: Mapping[str, int], **levels: Any) -> PDU:
        """Merges ``users`` (and top-level ``levels``) into the current power levels."""
        current = self.state.get(("m.room.power_levels", ""))
        content = dict(current.content) if current is not None else {}
        content["users"] = {**content.get("users", {}), **users}
        content.update(levels)
        return self.set_power_levels(by, content)

    def set_power_levels(self, by: str, content: Mapping[str, Any]) -> PDU:
        """Replaces the power levels content."""
        return self.send(by, "m.room.power_levels", content, state_key="")

    def set_join_rule(self, by: str, join_rule: str, **content: Any) -> PDU:
        return self.send(by, "m.room.join_rules", {"join_rule": join_rule, **content}, "")

    def message(self, sender: str, body: str = "hello") -> PDU:
        return self.send(sender, "m.room.message", {"msgtype": "m.text", "body": body})

    def _member(self, sender: str, target: str, membership: str, content: Any) -> PDU:
        body = {"membership": membership, **content}
        return self.send(sender, "m.room.member", body, state_key=target)

    def _new_id(self, slug: str, about: str, sender: str) -> str:
        n = next(self._shared.counter)
        label = about.lstrip("@").split(":", 1)[0] or "room"
        eid = f"${n}-{slug}-{label}"
        if self.room_version.event_format is EventFormat.V1:
            # v1/v2 event IDs carry the origin server; the auth rules read it.
            eid += f":{server_of(sender)}"
        return eid

    def _ts(self) -> int:
        return 1000 + len(self._shared.events_by_id)


def _slug(type: str, content: Mapping[str, Any]) -> str:
    slug = type.removeprefix("m.room.").replace(".", "_")
    if type == "m.room.member" and isinstance(content.get("membership"), str):
        slug = content["membership"]
    return slug
