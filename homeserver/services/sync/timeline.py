"""The ``timeline`` block: filtered, visible events with ``limited`` and
``prev_batch``.

``prev_batch`` is a topological ``RoomPosition`` naming the gap just before
the first returned event, which ``/messages`` accepts as ``from`` to
continue backwards. The timeline reads ``limit + 1`` raw events per room
(one batched query for all rooms); the extra one only tells ``limited``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.core.tokens import RoomPosition
from homeserver.services.filters import EventFilter, apply_event_fields
from homeserver.services.requester import Requester
from homeserver.services.rooms.read import RoomReader
from homeserver.services.rooms.visibility import HistoryVisibility
from homeserver.storage.stores.events import StoredEvent

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Timeline:
    events: list[StoredEvent]
    limited: bool
    prev_batch: str

    def to_json(self, serialized: list[JsonDict]) -> JsonDict:
        return {"events": serialized, "limited": self.limited, "prev_batch": self.prev_batch}


def cut_timeline(raw: Sequence[StoredEvent], limit: int, upto: int) -> Timeline:
    """The newest ``limit`` events of ``raw`` (oldest first, up to ``limit + 1``)."""
    limited = len(raw) > limit
    events = list(raw[len(raw) - limit :]) if limit > 0 else []
    if events:
        first = events[0]
        prev = RoomPosition(first.pdu.depth, first.stream_ordering).encode()
    else:
        prev = RoomPosition(None, upto).encode()
    return Timeline(events, limited, prev)


async def visible_timeline(
    visibility: HistoryVisibility,
    user_id: str,
    timeline: Timeline,
    event_filter: EventFilter,
    *,
    currently_joined: bool,
) -> tuple[Timeline, list[Any]]:
    """Applies the timeline filter and history visibility.

    Returns:
        The timeline (events narrowed) and the visible events for serialising.
    """
    wanted = [e for e in timeline.events if event_filter.allows_pdu(e.pdu)]
    visible = await visibility.filter(user_id, wanted, currently_joined=currently_joined)
    kept = [v.stored for v in visible]
    return Timeline(kept, timeline.limited, timeline.prev_batch), list(visible)


async def serialize_events(
    reader: RoomReader,
    requester: Requester,
    events: Sequence[Any],
    event_fields: tuple[str, ...] | None,
) -> list[JsonDict]:
    """Client-format events without ``room_id`` (``ClientEventWithoutRoomID``)."""
    out = await reader.serialize(requester, events)
    for event in out:
        event.pop("room_id", None)
    if event_fields is not None:
        out = [apply_event_fields(e, event_fields) for e in out]
    return out
