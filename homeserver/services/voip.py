"""TURN credentials for 1:1 calls (``GET /voip/turnServer``).

With a shared secret we use coturn's "TURN REST API" scheme (coturn's
``static-auth-secret``): the username is ``<expiry unix seconds>:<user_id>``
and the password is base64(HMAC-SHA1(secret, username)); coturn recomputes
the password and checks the expiry itself, so nothing is stored here. A
static username/password pair is the alternative.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from homeserver.config.model import VoipConfig
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester


def turn_password(secret: str, username: str) -> str:
    """coturn's REST-API password for ``username``: base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class TurnCredentials:
    """Hands out TURN server credentials according to the ``voip`` config."""

    def __init__(self, config: VoipConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock

    def for_requester(self, requester: Requester) -> dict[str, Any]:
        """The turnServer response body; ``{}`` when no TURN server is configured
        (or for a guest when guests are not allowed)."""
        config = self._config
        if not config.turn_uris or (requester.is_guest and not config.turn_allow_guests):
            return {}
        ttl_s = config.turn_user_lifetime_ms // 1000
        if config.turn_shared_secret:
            expiry_s = self._clock.time_ms() // 1000 + ttl_s
            username = f"{expiry_s}:{requester.user_id}"
            password = turn_password(config.turn_shared_secret, username)
        elif config.turn_username and config.turn_password:
            username, password = config.turn_username, config.turn_password
        else:
            return {}
        return {
            "username": username,
            "password": password,
            "uris": list(config.turn_uris),
            "ttl": ttl_s,
        }
