"""The ``state`` block of a room.

- Initial sync, ``full_state`` or a newly joined room: the state at the
  START of the timeline (the state group of the event just before it; the
  cached current state when the timeline changed no state).
- ``use_state_after`` (MSC4222): ``state_after``, the state at the END of
  the timeline (all of it when full, else what changed since the token),
  timeline state events included.
- Incremental and ``limited``: the state events between ``since`` and the
  start of the timeline (the gap the client did not see), last per key.
- Incremental and not limited: nothing (every change is in the timeline).

``lazy_load_members`` keeps only the member events of timeline senders and
of the syncing user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from homeserver.core.events import StateKey
from homeserver.services.filters import EventFilter
from homeserver.storage.stores.events import StoredEvent


def full_state_ids(
    current: Mapping[StateKey, str], timeline: Sequence[StoredEvent]
) -> dict[StateKey, str]:
    """Current state without the entries the timeline's events set."""
    in_timeline = {e.pdu.event_id for e in timeline}
    return {k: v for k, v in current.items() if v not in in_timeline}


def lazy_members(
    state: Mapping[StateKey, str],
    timeline: Sequence[StoredEvent],
    viewer: str,
    current: Mapping[StateKey, str],
    *,
    skip_timeline: bool = True,
) -> dict[StateKey, str]:
    """Non-member state plus the members that the timeline needs.

    Members come from ``current`` when ``state`` lacks them (an incremental
    sync must still tell who sent the timeline events). With
    ``skip_timeline`` (``state``, not ``state_after``) member events the
    timeline carries are left out.
    """
    senders = {e.pdu.sender for e in timeline} | {viewer}
    in_timeline = {e.pdu.event_id for e in timeline} if skip_timeline else set()
    out = {k: v for k, v in state.items() if k[0] != "m.room.member"}
    for sender in senders:
        key: StateKey = ("m.room.member", sender)
        event_id = state.get(key) or current.get(key)
        if event_id is not None and event_id not in in_timeline:
            out[key] = event_id
    return out


def filter_state(events: Iterable[StoredEvent], event_filter: EventFilter) -> list[StoredEvent]:
    """Applies the state filter (types, senders, contains_url, limit)."""
    kept = [e for e in events if event_filter.allows_pdu(e.pdu)]
    kept.sort(key=lambda e: e.stream_ordering)
    if event_filter.limit is not None:
        kept = kept[: event_filter.limit]
    return kept


def last_per_key(events: Sequence[StoredEvent]) -> list[StoredEvent]:
    """The newest event per (type, state_key), oldest first."""
    latest: dict[StateKey, StoredEvent] = {}
    for stored in events:
        if stored.pdu.state_key is not None:
            latest[stored.pdu.state_tuple] = stored
    return sorted(latest.values(), key=lambda e: e.stream_ordering)
