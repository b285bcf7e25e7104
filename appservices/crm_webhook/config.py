"""The ``crm`` config section."""

from __future__ import annotations

from pydantic import Field

from appservices.framework.config import BridgeConfig, Section


class RoomMapping(Section):
    room_id: str = Field(description="The Matrix room the events go to.")
    account: str = Field(description="The CRM account (tenant) whose events go there.")
    events: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Event types to post, as shell patterns (lead.*, ticket.updated).",
    )


class CrmSection(Section):
    api_url: str = Field(description="Base URL of the CRM's REST API.")
    api_token: str = Field(description="Bearer token for the CRM's REST API.")
    webhook_secret: str = Field(min_length=16, description="The shared HMAC secret.")
    webhook_path: str = Field(default="/crm/webhook", description="Where webhooks arrive.")
    signature_tolerance_s: int = Field(
        default=300, ge=1, description="How old a signed timestamp may be (replay window)."
    )
    rooms: list[RoomMapping] = Field(default_factory=list, description="Per-room mapping.")


class CrmBridgeConfig(BridgeConfig):
    crm: CrmSection
