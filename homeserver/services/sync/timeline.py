"""The ``timeline`` block: filtered, visible events with ``limited`` and
``prev_batch``.

``prev_batch`` is a topological ``RoomPosition`` naming the gap just before
the first returned event, which ``/messages`` accepts as ``from`` to
continue backwards. The timeline reads ``limit + 1`` raw events per room
(one batched query for all rooms); the extra one only tells ``limited``.
When a filter drops events, the reader pages further back (bounded) so
that up to ``limit`` matching events come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
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
    #: the event read just before the first returned one (its state group
    #: is the state at the start of the timeline); None when not read
    before: StoredEvent | None = None
    #: nothing precedes the first event in the range read (no gap)
    exhausted: bool = True

    def to_json(self, serialized: list[JsonDict]) -> JsonDict:
        return {"events": serialized, "limited": self.limited, "prev_batch": self.prev_batch}


def cut_timeline(
    raw: Sequence[StoredEvent],
    limit: int,
    upto: int,
    event_filter: EventFilter | None = None,
    *,
    exhausted: bool | None = None,
) -> Timeline:
    """The newest ``limit`` events of ``raw`` that pass ``event_filter``.

    Args:
        raw: events read, oldest first.
        limit: the most to return.
        upto: the stream position the timeline ends at (for ``prev_batch``
            when no event is returned).
        event_filter: the timeline filter (None: keep every event).
        exhausted: whether nothing precedes ``raw`` in the range; by default
            ``raw`` holds ``limit + 1`` events when more exist.
    """
    if exhausted is None:
        exhausted = len(raw) <= limit
    if event_filter is None:
        matching = list(raw)
    else:
        matching = [e for e in raw if event_filter.allows_pdu(e.pdu)]
    limited = limit > 0 and (len(matching) > limit or not exhausted)
    events = matching[max(0, len(matching) - limit) :] if limit > 0 else []
    before: StoredEvent | None = None
    if events:
        first = events[0]
        prev = RoomPosition(first.pdu.depth, first.stream_ordering).encode()
        index = next(i for i, e in enumerate(raw) if e is first)
        before = raw[index - 1] if index > 0 else None
        exhausted = exhausted and index == 0
    else:
        prev = RoomPosition(None, upto).encode()
    return Timeline(events, limited, prev, before, exhausted)


async def visible_timeline(
    visibility: HistoryVisibility,
    user_id: str,
    timeline: Timeline,
    event_filter: EventFilter,
    *,
    currently_joined: bool,
    shared_until: int | None = None,
) -> tuple[Timeline, list[Any]]:
    """Applies the timeline filter and history visibility.

    Returns:
        The timeline (events narrowed) and the visible events for serialising.
    """
    wanted = [e for e in timeline.events if event_filter.allows_pdu(e.pdu)]
    visible = await visibility.filter(
        user_id, wanted, currently_joined=currently_joined, shared_until=shared_until
    )
    kept = [v.stored for v in visible]
    return replace(timeline, events=kept), list(visible)


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
