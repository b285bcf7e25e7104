"""The appservice registration file the homeserver loads.

``generate_registration`` makes fresh random tokens and returns both the
registration (for the homeserver's ``app_service_config_files``) and the
config with the same tokens filled in, so the two always agree.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from appservices.framework.config import BridgeConfig


def new_token() -> str:
    """A random token with 256 bits of entropy, URL-safe."""
    return secrets.token_urlsafe(32)


def registration_for(config: BridgeConfig) -> dict[str, Any]:
    """The registration that matches ``config`` (tokens taken from it as they are)."""
    section = config.appservice
    domain = re.escape(config.homeserver.domain)
    prefix = re.escape(section.user_prefix)
    return {
        "id": section.id,
        "url": section.address,
        "as_token": section.as_token,
        "hs_token": section.hs_token,
        "sender_localpart": section.bot_localpart,
        "namespaces": {
            "users": [{"exclusive": True, "regex": f"@{prefix}.*:{domain}"}],
            "aliases": [],
            "rooms": [],
        },
        "rate_limited": False,
    }


def generate_registration(config: BridgeConfig) -> tuple[dict[str, Any], BridgeConfig]:
    """Fresh ``as_token``/``hs_token``: the registration and the updated config."""
    section = config.appservice.model_copy(
        update={"as_token": new_token(), "hs_token": new_token()}
    )
    updated = config.model_copy(update={"appservice": section})
    return registration_for(updated), updated
