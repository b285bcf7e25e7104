"""Application services (spec: Application Service API), the homeserver side.

``AppServices`` holds the registrations loaded at startup
(``app_service_config_files``) and the parts that use them:

- ``auth``: ``as_token`` → Requester with ``appservice_id``, masquerading;
- ``sender``: transactions pushed to each appservice, persisted and retried;
- ``queries``: user / alias queries and third-party lookups;
- ``login`` / ``register_user``: ``m.login.application_service``;
- ``ping``: ``POST /_matrix/client/v1/appservice/{appserviceId}/ping``;
- ``ephemeral``: typing, receipts and presence (``receive_ephemeral``) and
  MSC3202 to-device messages, device-list changes, one-time-key counts and
  unused fallback key types, best effort.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from homeserver.config.model import Config
from homeserver.core.errors import (
    Codes,
    Forbidden,
    InvalidIdentifier,
    InvalidUsername,
    MatrixError,
    UserDeactivated,
    UserInUse,
)
from homeserver.core.ids import make_user_id, parse_server_name, parse_user_id, server_name_of
from homeserver.notifier import Notifier
from homeserver.services.accounts.login import LoginResult, LoginService
from homeserver.services.accounts.registration import RegistrationService
from homeserver.services.appservice.auth import AppserviceAuth
from homeserver.services.appservice.client import AppserviceHttp
from homeserver.services.appservice.ephemeral import EphemeralFeed
from homeserver.services.appservice.namespaces import (
    AppService,
    exclusive_owner,
    may_claim_alias,
)
from homeserver.services.appservice.ping import ping
from homeserver.services.appservice.queries import AppserviceQueries
from homeserver.services.appservice.sender import AppserviceSender
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.services.sync.presence import PresenceService
from homeserver.services.sync.streams import SyncStreams
from homeserver.services.sync.typing import TypingService
from homeserver.storage.db import Database

logger = logging.getLogger(__name__)

#: The registration / login type appservices use (spec).
APPSERVICE_LOGIN_TYPE = "m.login.application_service"


class AppServices:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: Config,
        appservices: Sequence[AppService],
        rooms: Rooms,
        registration: RegistrationService,
        login: LoginService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._registration = registration
        self._login = login
        self.appservices = list(appservices)
        self.http = AppserviceHttp()
        self.auth = AppserviceAuth(db, self.appservices, config.server_name)
        self.sender = AppserviceSender(
            db,
            clock,
            self.appservices,
            rooms.cache,
            rooms.read,
            rooms.persister.event_stream,
            self.http,
        )
        self.queries = AppserviceQueries(self.http, self.appservices, config.server_name)
        #: set by :meth:`attach_ephemeral`
        self.ephemeral: EphemeralFeed | None = None
        self.ping_timeout_s = 10.0

    def attach_ephemeral(
        self,
        notifier: Notifier,
        typing: TypingService,
        presence: PresenceService,
        streams: SyncStreams,
    ) -> None:
        """Feeds typing, receipts, presence, to-device and device-list changes
        to the appservices that want them (call before :meth:`start`)."""
        feed = EphemeralFeed(
            self._db,
            self.appservices,
            typing,
            presence,
            streams,
            self.sender.interested_in_room,
            self.sender.wake,
        )
        self.sender.ephemeral = feed
        notifier.listeners.append(feed.on_poke)
        self.ephemeral = feed

    def by_id(self, as_id: str) -> AppService | None:
        return next((a for a in self.appservices if a.id == as_id), None)

    async def start(self) -> None:
        """Creates each appservice's sender user when missing; starts delivery."""
        for svc in self.appservices:
            localpart = svc.registration.sender_localpart
            with contextlib.suppress(UserInUse):
                await self._registration.register_user(localpart, None, appservice_id=svc.id)
        await self.sender.start()
        if self.appservices:
            logger.info("Application services: %s", ", ".join(a.id for a in self.appservices))

    async def stop(self) -> None:
        await self.sender.stop()
        await self.http.close()

    # --- requests by appservices -----------------------------------------------

    async def requester_for_token(
        self, token: str, user_id: str | None, device_id: str | None
    ) -> Requester | None:
        """The requester for an ``as_token`` (masquerading as ``user_id`` /
        ``device_id``), or None when ``token`` is not an ``as_token``."""
        svc = self.auth.appservice_for_token(token)
        if svc is None:
            return None
        return await self.auth.requester_for(svc, user_id, device_id)

    def check_not_exclusive(self, user_id: str) -> None:
        """M_EXCLUSIVE when an appservice claims ``user_id`` exclusively
        (for registrations that are not that appservice's)."""
        if exclusive_owner(self.appservices, user_id) is not None:
            raise MatrixError(
                "This user ID is reserved by an application service", code=Codes.EXCLUSIVE
            )

    def check_alias(self, requester: Requester, alias: str) -> None:
        """Whether the requester may create or remove a local alias.

        Raises:
            MatrixError: 400 M_EXCLUSIVE when an appservice claims the alias
                exclusively (for users other than its sender), or when an
                appservice acts on an alias outside its own namespace.
        """
        if requester.appservice_id is not None:
            svc = self.by_id(requester.appservice_id)
            if svc is not None and not svc.aliases.matches(alias):
                raise MatrixError(
                    "This application service has not reserved this kind of alias",
                    code=Codes.EXCLUSIVE,
                )
            return
        if not may_claim_alias(self.appservices, requester.user_id, alias):
            raise MatrixError(
                "This alias is reserved by an application service", code=Codes.EXCLUSIVE
            )

    async def register_user(self, token: str | None, localpart: str | None) -> str:
        """``POST /register`` with ``type: m.login.application_service``.

        Raises:
            MatrixError: M_MISSING_TOKEN / M_UNKNOWN_TOKEN without a valid
                ``as_token``; M_EXCLUSIVE outside its users namespace;
                M_INVALID_USERNAME, M_USER_IN_USE.
        """
        if token is None:
            raise MatrixError("Missing access token", code=Codes.MISSING_TOKEN)
        svc = self.auth.appservice_for_token(token)
        if svc is None:
            raise MatrixError("Unknown application service token", code=Codes.UNKNOWN_TOKEN)
        if not localpart:
            raise InvalidUsername("Application services must give a username")
        user_id = self._registration.user_id_for(localpart.lower())
        if server_name_of(user_id) != self._config.server_name or not (
            svc.users.matches(user_id) or user_id == svc.sender
        ):
            raise MatrixError(
                "User ID is not in the application service's namespace", code=Codes.EXCLUSIVE
            )
        return await self._registration.register_user(localpart.lower(), None, appservice_id=svc.id)

    async def login(
        self,
        token: str | None,
        user: str,
        *,
        device_id: str | None = None,
        display_name: str | None = None,
        with_refresh: bool = False,
    ) -> LoginResult:
        """``POST /login`` with ``type: m.login.application_service``: a
        session for one of the appservice's users.

        Args:
            token: the request's access token (the appservice's ``as_token``).
            user: the ``m.id.user`` identifier, a localpart or a user id.

        Raises:
            MatrixError: M_MISSING_TOKEN / M_UNKNOWN_TOKEN (401) without a valid
                ``as_token``; M_APPSERVICE_LOGIN_UNSUPPORTED (400) for an
                appservice that manages its devices itself (MSC4190);
                M_INVALID_USERNAME (400) for a malformed user; M_FORBIDDEN
                (403) outside its users namespace or for an unknown user;
                M_USER_DEACTIVATED (403).
        """
        svc, user_id = self._user_for_login(token, user)
        account = await self._login.resolve_user(user_id)
        # Re-checked: an account from before ids were lower-cased may differ.
        if account is None or not self._owns(svc, account.user_id):
            raise Forbidden("Unknown user")
        if account.deactivated:
            raise UserDeactivated("This account has been deactivated")
        logger.info("Application service login for %s", account.user_id)
        return await self._login.create_session(
            account.user_id,
            device_id=device_id,
            display_name=display_name,
            with_refresh=with_refresh,
        )

    def _owns(self, svc: AppService, user_id: str) -> bool:
        return server_name_of(user_id) == self._config.server_name and (
            svc.users.matches(user_id) or user_id == svc.sender
        )

    def _user_for_login(self, token: str | None, user: str) -> tuple[AppService, str]:
        if token is None:
            raise MatrixError("Missing access token", code=Codes.MISSING_TOKEN)
        svc = self.auth.appservice_for_token(token)
        if svc is None:
            raise MatrixError("Unknown application service token", code=Codes.UNKNOWN_TOKEN)
        if svc.registration.msc4190:
            # MSC4190: such an appservice creates devices through /devices instead.
            raise MatrixError(
                "This application service manages its devices; login is not available",
                code=Codes.APPSERVICE_LOGIN_UNSUPPORTED,
            )
        try:
            if user.startswith("@"):
                user_id = parse_user_id(user, strict=False)
            else:
                server_name = parse_server_name(self._config.server_name)
                user_id = make_user_id(user, server_name, strict=False)
        except InvalidIdentifier as e:
            raise InvalidUsername(f"Invalid user: {e}") from e
        if not self._owns(svc, user_id):
            raise Forbidden("User ID is not in the application service's namespace")
        return svc, user_id

    async def ping(self, requester: Requester, as_id: str, transaction_id: str | None) -> int:
        """Pings the requester's own appservice; the round trip in ms.

        Raises:
            Forbidden: the token is not this appservice's.
            MatrixError: see ``ping.ping``.
        """
        if requester.appservice_id != as_id:
            raise Forbidden("This token does not belong to the application service")
        svc = self.by_id(as_id)
        if svc is None:
            raise Forbidden("Unknown application service")
        return await ping(
            self.http, self._clock, svc, transaction_id, timeout_s=self.ping_timeout_s
        )
