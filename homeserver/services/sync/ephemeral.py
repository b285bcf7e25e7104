"""The ``ephemeral`` block of a joined room: ``m.typing`` and ``m.receipt``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeserver.services.filters import EventFilter
from homeserver.storage.stores.receipts import Receipt

JsonDict = dict[str, Any]


def typing_event(user_ids: Sequence[str]) -> JsonDict:
    return {"type": "m.typing", "content": {"user_ids": list(user_ids)}}


def receipt_events(receipts: Sequence[Receipt], viewer: str) -> dict[str, JsonDict]:
    """``room → m.receipt event`` of ``receipts``; private ones only for ``viewer``."""
    by_room: dict[str, JsonDict] = {}
    for receipt in receipts:
        if receipt.receipt_type == "m.read.private" and receipt.user_id != viewer:
            continue
        content = by_room.setdefault(receipt.room_id, {})
        entry: JsonDict = {"ts": receipt.data.get("ts", 0)}
        if receipt.thread_id is not None:
            entry["thread_id"] = receipt.thread_id
        content.setdefault(receipt.event_id, {}).setdefault(receipt.receipt_type, {})[
            receipt.user_id
        ] = entry
    return {room: {"type": "m.receipt", "content": c} for room, c in by_room.items()}


def filter_ephemeral(
    events: list[JsonDict], event_filter: EventFilter, room_id: str
) -> list[JsonDict]:
    """Applies the room ephemeral filter (types, rooms, limit; no senders here)."""
    if not event_filter.allows_room(room_id):
        return []
    kept = [e for e in events if event_filter.allows_type(e["type"])]
    if event_filter.limit is not None:
        kept = kept[: event_filter.limit]
    return kept
