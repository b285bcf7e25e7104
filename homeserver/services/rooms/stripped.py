"""Stripped state: what an invitee or knocker sees of a room before joining
(spec: "Stripped state").

Invite and knock member events carry it in ``unsigned.invite_room_state`` /
``unsigned.knock_room_state``, taken from the room's state when the event is
built; /sync serves it as ``invite_state`` / ``knock_state``. Since spec v1.16
(MSC4311) it must hold the ``m.room.create`` event. As in Synapse: an invite
also carries the inviter's member event, and in rooms whose id is the create
event's hash (v12) the create event is the full PDU (MSC4311), so the
invitee can check the room id against it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from homeserver.core.events import PDU, StateKey

#: The state the spec lists for stripped state, in the order it is served.
STRIPPED_STATE_TYPES: tuple[str, ...] = (
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.topic",
    "m.room.canonical_alias",
    "m.room.encryption",
)

#: The ``unsigned`` key each membership carries its stripped state in.
UNSIGNED_KEY = {"invite": "invite_room_state", "knock": "knock_room_state"}


def stripped_state_keys(membership: str, sender: str) -> list[StateKey]:
    """The state keys stripped state is made of, for a ``membership`` event
    (invite or knock) by ``sender``."""
    keys: list[StateKey] = [(t, "") for t in STRIPPED_STATE_TYPES]
    if membership == "invite":
        keys.append(("m.room.member", sender))
    return keys


#: Most bytes of stripped state an event carries. It travels in the member
#: event's ``unsigned``, which counts towards the 64 KiB event limit, so a
#: huge topic must not make the invite itself too large.
MAX_STRIPPED_BYTES = 16 * 1024

#: What is left out first when over the budget (m.room.create never is).
_DROP_ORDER = (
    "m.room.topic",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.name",
    "m.room.member",
    "m.room.join_rules",
    "m.room.encryption",
)


def stripped_state(
    state: Mapping[StateKey, PDU], membership: str, sender: str
) -> list[dict[str, Any]]:
    """The stripped form (``type``, ``state_key``, ``content``, ``sender``) of
    the listed events present in ``state``, within ``MAX_STRIPPED_BYTES``."""
    events = [
        _strip(pdu)
        for key in stripped_state_keys(membership, sender)
        if (pdu := state.get(key)) is not None
    ]
    sizes = [len(json.dumps(e, ensure_ascii=False).encode()) for e in events]
    for dropped in _DROP_ORDER:
        if sum(sizes) <= MAX_STRIPPED_BYTES:
            break
        keep = [i for i, e in enumerate(events) if e["type"] != dropped]
        events = [events[i] for i in keep]
        sizes = [sizes[i] for i in keep]
    return events


def _strip(pdu: PDU) -> dict[str, Any]:
    if pdu.type == "m.room.create" and pdu.room_version.room_id_from_create_event:
        return {k: v for k, v in pdu.data.items() if k != "unsigned"}
    return {
        "type": pdu.type,
        "state_key": pdu.state_key,
        "content": pdu.content,
        "sender": pdu.sender,
    }
