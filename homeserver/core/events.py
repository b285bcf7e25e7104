"""The PDU: an immutable event of a given room version.

A ``PDU`` wraps the event's wire JSON (exactly what is hashed and signed;
for event formats V2+ it has no ``event_id`` key) and exposes the fields that
the auth rules, state resolution and storage read, as plain attributes.

Building a new PDU (filling prev/auth events, hashing, signing, computing its
id) lives in ``homeserver.core.build``; checking a received one in
``homeserver.core.validation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.core.room_versions import EventFormat, RoomVersion

JsonDict = dict[str, Any]

#: (event type, state key): the key of a state map.
StateKey = tuple[str, str]


class PDU:
    """An event as persisted and exchanged over federation.

    Treat instances as immutable: the wire dict is never changed after
    construction. Attributes are precomputed because the auth rules and state
    resolution read them in hot loops.
    """

    __slots__ = (
        "auth_event_ids",
        "content",
        "data",
        "depth",
        "event_id",
        "origin_server_ts",
        "prev_event_ids",
        "redacts",
        "room_id",
        "room_version",
        "sender",
        "state_key",
        "type",
    )

    event_id: str
    room_version: RoomVersion
    data: JsonDict
    room_id: str
    sender: str
    type: str
    state_key: str | None
    content: JsonDict
    depth: int
    origin_server_ts: int
    prev_event_ids: tuple[str, ...]
    auth_event_ids: tuple[str, ...]
    redacts: str | None

    def __init__(self, event_id: str, room_version: RoomVersion, data: JsonDict) -> None:
        """Wraps already-validated wire JSON.

        Args:
            event_id: the event's id (computed from the reference hash for
                formats V2+, the ``event_id`` field for V1).
            room_version: the version of the room the event belongs to.
            data: the wire JSON. Must already have passed
                ``validation.check_pdu_format`` when it comes from outside.
        """
        self.event_id = event_id
        self.room_version = room_version
        self.data = data
        self.type = data["type"]
        self.sender = data["sender"]
        self.state_key = data.get("state_key")
        self.content = data.get("content", {})
        self.depth = data.get("depth", 0)
        self.origin_server_ts = data.get("origin_server_ts", 0)
        self.prev_event_ids = _ref_ids(data.get("prev_events", ()), room_version)
        self.auth_event_ids = _ref_ids(data.get("auth_events", ()), room_version)
        if room_version.updated_redaction_rules:
            # v11 moved `redacts` into content; read both for robustness.
            redacts = self.content.get("redacts", data.get("redacts"))
        else:
            redacts = data.get("redacts")
        self.redacts = redacts if isinstance(redacts, str) else None
        room_id = data.get("room_id")
        if (
            room_id is None
            and room_version.room_id_from_create_event
            and self.type == "m.room.create"
        ):
            room_id = "!" + event_id[1:]
        self.room_id = room_id if isinstance(room_id, str) else ""

    def is_state(self) -> bool:
        return self.state_key is not None

    @property
    def state_tuple(self) -> StateKey:
        """(type, state_key) of a state event. Raises ValueError for a message."""
        if self.state_key is None:
            raise ValueError(f"{self.event_id} is not a state event")
        return (self.type, self.state_key)

    @property
    def membership(self) -> str | None:
        m = self.content.get("membership")
        return m if isinstance(m, str) else None

    @property
    def unsigned(self) -> Mapping[str, Any]:
        u = self.data.get("unsigned")
        return u if isinstance(u, dict) else {}

    def __repr__(self) -> str:
        sk = f" state_key={self.state_key!r}" if self.state_key is not None else ""
        return f"<PDU {self.event_id} {self.type}{sk} sender={self.sender}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PDU) and other.event_id == self.event_id

    def __hash__(self) -> int:
        return hash(self.event_id)


def _ref_ids(refs: Any, room_version: RoomVersion) -> tuple[str, ...]:
    if room_version.event_format is EventFormat.V1:
        # [[event_id, {"sha256": ...}], ...]
        return tuple(r[0] for r in refs if isinstance(r, (list, tuple)) and r)
    out = tuple(refs)
    # Hot path (every event read): the common case is already all strings.
    for r in out:
        if type(r) is not str:
            return tuple(r for r in out if isinstance(r, str))
    return out
