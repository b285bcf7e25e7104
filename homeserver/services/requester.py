"""Who is making a request, as established by the access token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Requester:
    user_id: str
    device_id: str | None
    is_guest: bool = False
    is_admin: bool = False
    #: The id of the application service whose as_token was used, if any.
    appservice_id: str | None = None
    #: The id of the access token row (for logout of this session).
    token_id: int | None = None
    #: Account restrictions set by a server admin (spec "Account locking",
    #: "Account suspension"; shadow bans are Synapse's).
    is_locked: bool = False
    is_suspended: bool = False
    is_shadow_banned: bool = False

    @property
    def ratelimit_exempt(self) -> bool:
        return self.is_admin or self.appservice_id is not None
