"""The CRM bridge: webhook route, room mapping and ``!crm`` commands."""

from __future__ import annotations

import fnmatch
import json
import logging
import time
from collections.abc import Callable

import aiohttp
from aiohttp import web

from appservices.crm_webhook.config import CrmBridgeConfig, RoomMapping
from appservices.crm_webhook.crm_api import CrmApi, CrmError
from appservices.crm_webhook.messages import BadPayload, Delivery, describe, parse_delivery
from appservices.crm_webhook.signature import verify
from appservices.framework.bridge import Bridge
from appservices.framework.commands import CommandEvent, CommandRouter
from appservices.framework.intent import Intent

logger = logging.getLogger(__name__)


def _json_error(status: int, errcode: str, message: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": message}, status=status)


class CrmBridge(Bridge):
    def __init__(self, config: CrmBridgeConfig, *, now_s: Callable[[], float] = time.time) -> None:
        super().__init__(config)
        self.crm_config = config.crm
        self._now_s = now_s
        self._api_session: aiohttp.ClientSession | None = None
        self._api: CrmApi | None = None
        self.commands = CommandRouter("!crm")
        self.commands.add("note", self._cmd_note, "<record> <text>", "add a note to a CRM record")
        self.commands.add("show", self._cmd_show, "<record>", "show a CRM record")
        self.commands.add("help", self._cmd_help, "", "list the commands")

    async def start(self) -> None:
        self._api_session = aiohttp.ClientSession()
        self._api = CrmApi(self._api_session, self.crm_config.api_url, self.crm_config.api_token)

    async def stop(self) -> None:
        if self._api_session is not None:
            await self._api_session.close()

    @property
    def api(self) -> CrmApi:
        assert self._api is not None, "the bridge is not started"
        return self._api

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.crm_config.webhook_path, self.post_webhook)

    def mappings_for(self, delivery: Delivery) -> list[RoomMapping]:
        return [
            m
            for m in self.crm_config.rooms
            if m.account == delivery.account
            and any(fnmatch.fnmatchcase(delivery.type, pattern) for pattern in m.events)
        ]

    def mapping_of_room(self, room_id: str) -> RoomMapping | None:
        return next((m for m in self.crm_config.rooms if m.room_id == room_id), None)

    async def post_webhook(self, request: web.Request) -> web.Response:
        """POST {webhook_path}: one CRM event delivery.

        - 401 when the signature or its timestamp is wrong; nothing is sent.
        - 400 when the body is not a delivery; 200 otherwise (also for a repeat).
        """
        body = await request.read()
        if not verify(
            self.crm_config.webhook_secret,
            request.headers.get("X-CRM-Timestamp"),
            request.headers.get("X-CRM-Signature"),
            body,
            now_s=self._now_s(),
            tolerance_s=self.crm_config.signature_tolerance_s,
        ):
            logger.warning("refused a webhook with a bad signature from %s", request.remote)
            return _json_error(401, "M_UNAUTHORIZED", "bad or missing signature")
        try:
            delivery = parse_delivery(json.loads(body))
        except ValueError as e:  # BadPayload, or JSON that doesn't decode
            message = str(e) if isinstance(e, BadPayload) else "body is not JSON"
            return _json_error(400, "M_BAD_JSON", message)
        if await self.store.is_handled("webhook", delivery.id):
            return web.json_response({"duplicate": True})
        rooms = self.mappings_for(delivery)
        for mapping in rooms:
            await self._post(mapping.room_id, delivery)
        await self.store.mark_handled("webhook", delivery.id)
        return web.json_response({"rooms": len(rooms)})

    async def _sender_for(self, delivery: Delivery) -> Intent:
        if delivery.actor_id is None:
            return self.bot
        intent = self.intent(self.ghost_user_id(delivery.actor_id))
        if not await intent.store.is_registered(intent.user_id):
            await intent.ensure_registered()
            await intent.set_displayname(f"{delivery.actor_name or delivery.actor_id} (CRM)")
        return intent

    async def _post(self, room_id: str, delivery: Delivery) -> None:
        intent = await self._sender_for(delivery)
        await intent.ensure_joined(room_id)
        await intent.client.send_event(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": describe(delivery), "crm.delivery_id": delivery.id},
            # The delivery id makes a retried send idempotent on the homeserver too.
            txn_id=f"crm-{delivery.id}-{room_id}",
            ts=delivery.occurred_at,
        )

    async def _cmd_note(self, cmd: CommandEvent) -> str:
        if self.mapping_of_room(cmd.room_id) is None:
            return "This room is not linked to a CRM account."
        record_id, _, text = cmd.args.partition(" ")
        if not record_id or not text.strip():
            return "Usage: !crm note <record> <text>"
        try:
            note_id = await self.api.add_note(record_id, text.strip(), cmd.sender)
        except CrmError as e:
            return f"Could not add the note to {record_id}: {e}."
        return f"Note added to {record_id} (note {note_id})."

    async def _cmd_show(self, cmd: CommandEvent) -> str:
        if self.mapping_of_room(cmd.room_id) is None:
            return "This room is not linked to a CRM account."
        record_id = cmd.args.split(" ", 1)[0]
        if not record_id:
            return "Usage: !crm show <record>"
        try:
            record = await self.api.get_record(record_id)
        except CrmError as e:
            return f"Could not load {record_id}: {e}."
        fields = ", ".join(f"{k}: {v}" for k, v in sorted(record.items()) if k != "id")
        return f"{record_id}: {fields}"

    async def _cmd_help(self, cmd: CommandEvent) -> str:
        assert self.commands is not None
        return self.commands.help_text()
