"""``PUT /rooms/{roomId}/redact/{eventId}/{txnId}``: redacting an event.

The redaction event goes through the normal send path (txn idempotency,
auth rules). Whether it *takes effect* is the separate v3+ check
(``core.auth.check_redaction_allowed``), and for clients the sender needs
the redact level to redact someone else's event. A redaction that may not take effect is
refused with 403 rather than stored uselessly. When it applies, the same
transaction marks the target (``events.redacted_by``), and readers serve
the target redacted with ``unsigned.redacted_because``.
"""

from __future__ import annotations

from homeserver.core.auth import PowerLevels, check_redaction_allowed
from homeserver.core.errors import AuthRuleViolation, BadJson, Forbidden, UserSuspended
from homeserver.core.events import PDU
from homeserver.services.requester import Requester
from homeserver.services.rooms.build import forbidden
from homeserver.services.rooms.cache import RoomCache, RoomSnapshot
from homeserver.services.rooms.persist import TxnKey
from homeserver.services.rooms.send import EventSender, made_up_event_id


class RedactionService:
    def __init__(self, cache: RoomCache, sender: EventSender) -> None:
        self._cache = cache
        self._sender = sender

    async def redact(
        self,
        requester: Requester,
        room_id: str,
        event_id: str,
        reason: object,
        txn: TxnKey,
    ) -> str:
        """Sends the redaction; returns its event id (the same on retries).

        Raises:
            BadJson: ``reason`` is not a string.
            Forbidden: not in the room, or not allowed to redact that event.
        """
        if reason is not None and not isinstance(reason, str):
            raise BadJson("'reason' must be a string")
        if requester.is_suspended:
            # A suspended account may still take back what it said.
            own = await self._cache.event(event_id)
            if own is None or own.pdu.sender != requester.user_id:
                raise UserSuspended("Suspended accounts may only redact their own events")
        if requester.is_shadow_banned:
            return made_up_event_id()
        content: dict[str, object] = {}
        if reason is not None:
            content["reason"] = reason

        async def applies(pdu: PDU, snapshot: RoomSnapshot) -> bool:
            target = await self._cache.event(event_id)
            if target is None or target.pdu.room_id != room_id:
                # Unknown here: the redaction is kept for when the event arrives.
                return False
            auth_state = await self._cache.state_pdus(
                snapshot.state, [("m.room.create", ""), ("m.room.power_levels", "")]
            )
            try:
                check_redaction_allowed(pdu, target.pdu, auth_state)
            except AuthRuleViolation as e:
                raise forbidden(e) from e
            # The auth rules let any user of the same server through (they
            # speak about servers); a client may only redact others' events
            # with the redact level.
            power = PowerLevels.from_state(snapshot.room_version, auth_state)
            if target.pdu.sender != pdu.sender and power.user_level(pdu.sender) < power.redact:
                raise Forbidden("You need the redact power level to redact others' events")
            return True

        pdu = await self._sender.send(
            requester.user_id,
            room_id,
            "m.room.redaction",
            content,
            redacts=event_id,
            txn=txn,
            apply_redaction=applies,
        )
        return pdu.event_id
