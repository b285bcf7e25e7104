"""Forks and merges of rooms for the state resolution tests.

``RoomBuilder`` (``roomdsl``) builds linear branches; this adds what DAG
scenarios need on top: the state of a branch as event ids, and merging
branches, where the state of the merge is the resolution of the branches'
states (so the room's later events cite resolved auth events).

Example::

    room = base_room(V10)               # alice (100), bob, charlie, zara joined
    pa = room.set_power(ALICE, {BOB: 50})
    left, right = room.fork(), room.fork()
    left.ban(ALICE, BOB)
    right.set_power(BOB, {})
    assert resolve_branches(left, right)[POWER_LEVELS] == pa.event_id
"""

from __future__ import annotations

from collections.abc import Mapping

from homeserver.core.events import StateKey
from homeserver.core.room_versions import RoomVersion
from homeserver.core.state_res import resolve_state
from tests.core.roomdsl import ALICE, BOB, CHARLIE, ZARA, RoomBuilder

POWER_LEVELS: StateKey = ("m.room.power_levels", "")
JOIN_RULES: StateKey = ("m.room.join_rules", "")
TOPIC: StateKey = ("m.room.topic", "")


def member_key(user_id: str) -> StateKey:
    return ("m.room.member", user_id)


def base_room(room_version: RoomVersion) -> RoomBuilder:
    """A public room where alice (the creator, 100), bob, charlie and zara are joined."""
    room = RoomBuilder(room_version, ALICE)
    for user_id in (BOB, CHARLIE, ZARA):
        room.join(user_id)
    return room


def state_ids(branch: RoomBuilder) -> dict[StateKey, str]:
    """The state after the branch's last event, as event ids."""
    return {key: pdu.event_id for key, pdu in branch.state.items()}


def resolve_branches(*branches: RoomBuilder) -> dict[StateKey, str]:
    """The resolution of the branches' current states."""
    first = branches[0]
    return resolve_state(first.room_version, [state_ids(b) for b in branches], first.all_events)


def merge(target: RoomBuilder, *others: RoomBuilder, sender: str = ZARA) -> dict[StateKey, str]:
    """Joins ``others`` into ``target`` with a message from ``sender``.

    The message's ``prev_events`` are every branch head; ``target``'s state
    becomes the resolution of all the branches' states, and is returned.
    """
    resolved = resolve_branches(target, *others)
    heads = [target.head, *(o.head for o in others)]
    target.state = {key: target.event(event_id) for key, event_id in resolved.items()}
    target.send(sender, "m.room.message", {"msgtype": "m.text", "body": "merge"}, prev_events=heads)
    return resolved


def changed(
    before: Mapping[StateKey, str], after: Mapping[StateKey, str]
) -> dict[StateKey, str | None]:
    """The entries of ``after`` that differ from ``before`` (None: removed)."""
    out: dict[StateKey, str | None] = {k: v for k, v in after.items() if before.get(k) != v}
    out.update({k: None for k in before if k not in after})
    return out
