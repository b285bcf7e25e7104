"""The client event format (``ClientEvent`` in the spec).

From a stored PDU: ``content``, ``event_id``, ``origin_server_ts``,
``room_id``, ``sender``, ``state_key`` (state events), ``type`` and
``unsigned`` (``age``, ``transaction_id`` for the sending device,
``prev_content``/``replaces_state`` of state events, ``redacted_because``,
``membership`` of the requesting user, MSC4115 / spec v1.11).

Local state events carry ``unsigned.replaces_state`` (set when built);
``prev_content`` is looked up from that event when serving, which keeps the
stored PDU small.

Redacted events are passed through the room version's redaction algorithm
first. Redactions in v11+ rooms carry ``redacts`` in content only; clients
written for older rooms look for it at the top level, so it is copied there.
"""

from __future__ import annotations

from typing import Any

from homeserver.core.events import PDU
from homeserver.core.redaction import redact

JsonDict = dict[str, Any]

#: Keys the persist path stores in a local PDU's ``unsigned`` that clients see.
_UNSIGNED_FOR_CLIENTS = ("replaces_state", "invite_room_state", "knock_room_state")


def client_event(
    pdu: PDU,
    *,
    now_ms: int,
    redacted_because: JsonDict | None = None,
    txn_id_for_device: str | None = None,
    membership: str | None = None,
    prev_event: PDU | None = None,
    include_room_id: bool = True,
) -> JsonDict:
    """Serialises ``pdu`` for a client.

    Args:
        pdu: the event.
        now_ms: the current time, for ``unsigned.age``.
        redacted_because: the client-format redaction event when ``pdu`` is
            redacted; the event is then served redacted.
        txn_id_for_device: the client's transaction id, only when the
            requesting device is the one that sent the event.
        membership: the requesting user's membership at the event
            (``unsigned.membership``), when known.
        prev_event: for a state event, the event it replaced
            (``unsigned.replaces_state``), for ``prev_content``.
        include_room_id: False for the sync format (``ClientEventWithoutRoomID``).

    Returns:
        The event as a JSON object.
    """
    data = redact(pdu.data, pdu.room_version) if redacted_because is not None else pdu.data
    event: JsonDict = {
        "content": data.get("content", {}),
        "event_id": pdu.event_id,
        "origin_server_ts": pdu.origin_server_ts,
        "sender": pdu.sender,
        "type": pdu.type,
    }
    if include_room_id:
        event["room_id"] = pdu.room_id
    if pdu.state_key is not None:
        event["state_key"] = pdu.state_key
    if pdu.type == "m.room.redaction" and pdu.redacts is not None:
        event["redacts"] = pdu.redacts
    unsigned: JsonDict = {"age": max(0, now_ms - pdu.origin_server_ts)}
    if redacted_because is not None:
        unsigned["redacted_because"] = redacted_because
    else:
        stored_unsigned = pdu.unsigned
        for key in _UNSIGNED_FOR_CLIENTS:
            if key in stored_unsigned:
                unsigned[key] = stored_unsigned[key]
        if prev_event is not None:
            unsigned["prev_content"] = prev_event.content
            unsigned["prev_sender"] = prev_event.sender
    if txn_id_for_device is not None:
        unsigned["transaction_id"] = txn_id_for_device
    if membership is not None:
        unsigned["membership"] = membership
    event["unsigned"] = unsigned
    return event
