"""CRM webhook payloads → message text.

A payload (our documented contract with the CRM)::

    {"id": "dlv_1", "type": "lead.created", "account": "acme",
     "occurred_at": 1700000000000,
     "actor": {"id": "u42", "name": "Jane Sales"},
     "record": {"type": "lead", "id": "L-7", "title": "Big Co", "status": "new",
                "url": "https://crm.example/leads/L-7"},
     "changes": {"status": ["open", "won"]}}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class BadPayload(ValueError):
    """The webhook body is not a delivery we understand."""


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    type: str
    account: str
    occurred_at: int | None
    actor_id: str | None
    actor_name: str | None
    record: dict[str, Any]
    changes: dict[str, Any]


def _opt_str(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BadPayload(f"{field} must be a string")
    return str(value)


def parse_delivery(data: Any) -> Delivery:
    """Checks a decoded webhook body.

    Raises:
        BadPayload: a required field is missing or has the wrong type.
    """
    if not isinstance(data, dict):
        raise BadPayload("body must be a JSON object")
    for field in ("id", "type", "account"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise BadPayload(f"{field} must be a non-empty string")
    actor = data.get("actor") or {}
    record = data.get("record") or {}
    changes = data.get("changes") or {}
    if not isinstance(actor, dict) or not isinstance(record, dict) or not isinstance(changes, dict):
        raise BadPayload("actor, record and changes must be objects")
    occurred_at = data.get("occurred_at")
    if occurred_at is not None and (
        not isinstance(occurred_at, int) or isinstance(occurred_at, bool) or occurred_at < 0
    ):
        raise BadPayload("occurred_at must be a timestamp in ms")
    return Delivery(
        id=data["id"],
        type=data["type"],
        account=data["account"],
        occurred_at=occurred_at,
        actor_id=_opt_str(actor.get("id"), "actor.id"),
        actor_name=_opt_str(actor.get("name"), "actor.name"),
        record=record,
        changes=changes,
    )


def describe(delivery: Delivery) -> str:
    """One line (plus a link) saying what happened."""
    record = delivery.record
    kind = str(record.get("type") or delivery.type.partition(".")[0])
    ident = str(record.get("id", "?"))
    title = str(record.get("title", ""))
    action = delivery.type.partition(".")[2] or delivery.type
    headline = {
        "created": f"New {kind}",
        "updated": f"{kind.capitalize()} updated",
        "deleted": f"{kind.capitalize()} deleted",
        "closed": f"{kind.capitalize()} closed",
    }.get(action, f"{kind.capitalize()} {action}")
    text = f"{headline}: {title} ({ident})" if title else f"{headline}: {ident}"
    if "status" in record:
        text += f", status {record['status']}"
    changed = []
    for field, change in sorted(delivery.changes.items()):
        if isinstance(change, list) and len(change) == 2:
            changed.append(f"{field}: {change[0]} → {change[1]}")
        else:
            changed.append(f"{field}: {change}")
    if changed:
        text += " (" + "; ".join(changed) + ")"
    if isinstance(record.get("url"), str):
        text += f"\n{record['url']}"
    return text
