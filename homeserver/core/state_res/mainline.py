"""Step 4: the mainline ordering of the remaining conflicted events.

The mainline of the resolved power levels event ``P₀`` is ``P₀, P₁, …, Pₙ``,
each ``Pᵢ₊₁`` the power levels event among the auth events of ``Pᵢ``. An
event's mainline position is found by following the same power levels links
from its own auth events until one lands on the mainline; events whose chain
lands on an older mainline entry (or never lands) sort first. Ties break on
``origin_server_ts``, then ``event_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from homeserver.core.events import PDU
from homeserver.core.state_res.power_sort import power_levels_auth_id


def mainline_sort(
    event_ids: Iterable[str],
    power_levels_event_id: str | None,
    event_map: Mapping[str, PDU],
) -> list[str]:
    """Sorts events by mainline ordering based on ``power_levels_event_id``.

    Args:
        event_ids: the events to sort; each must be in ``event_map``.
        power_levels_event_id: ``P₀``, the power levels event of the partially
            resolved state, or None when it has none (then every position is
            the same and only the tie-breaks order the events).
        event_map: the events, by id.

    Returns:
        The events, earliest first.
    """
    # depth[p]: n - i for mainline entry Pᵢ, so the oldest has 1, P₀ has n,
    # and 0 (an event whose chain never reaches the mainline) sorts first.
    mainline: list[str] = []
    seen: set[str] = set()
    current = power_levels_event_id
    while current is not None and current not in seen:
        mainline.append(current)
        seen.add(current)
        pl_event = event_map.get(current)
        current = power_levels_auth_id(pl_event, event_map) if pl_event is not None else None
    count = len(mainline)
    depth: dict[str, int] = {event_id: count - i for i, event_id in enumerate(mainline)}

    # Memo for power levels events off the mainline: the depth their chain
    # lands on. Many events share a power levels event, so each chain is
    # walked once.
    landed: dict[str, int] = {}
    keys: list[tuple[int, int, str]] = []
    for event_id in event_ids:
        event = event_map[event_id]
        keys.append((_position(event, event_map, depth, landed), event.origin_server_ts, event_id))
    keys.sort()
    return [key[2] for key in keys]


def _position(
    event: PDU,
    event_map: Mapping[str, PDU],
    depth: Mapping[str, int],
    landed: dict[str, int],
) -> int:
    walked: list[str] = []
    result = 0
    current = power_levels_auth_id(event, event_map)
    while current is not None:
        found = depth.get(current)
        if found is None:
            found = landed.get(current)
        if found is not None:
            result = found
            break
        if current in walked:  # a cycle: only possible with forged ids
            break
        walked.append(current)
        pl_event = event_map.get(current)
        current = power_levels_auth_id(pl_event, event_map) if pl_event is not None else None
    for event_id in walked:
        landed[event_id] = result
    return result
