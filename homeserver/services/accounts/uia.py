"""User-interactive authentication (spec: "User-Interactive Authentication API").

An endpoint protected by UIA calls ``UIAService.check`` with the flows it
accepts. Without a completed flow, ``check`` raises ``InteractiveAuthRequired``
(401) carrying ``flows``, ``params``, ``session`` and ``completed``; when a
submitted stage fails, its ``errcode``/``error`` are added to that body so the
client can try again. Once a flow is complete ``check`` returns, and the
endpoint calls ``finish`` after it has done its work.

A session belongs to the request that started it: a later request on the
session must have the same uri and method (and, when there is a requester,
the same user), so one completed auth cannot be spent on another operation.

Stages:
- ``m.login.dummy``: always passes (registration without other checks).
- ``m.login.password``: the requester's password; a wrong one fails the
  stage with M_FORBIDDEN, naming a different user than the requester is a
  plain 403.
- ``m.login.registration_token``: reserves one use of a registration token;
  the use becomes "completed" in ``finish`` and is given back if the session
  expires unused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from homeserver.config.model import Config
from homeserver.core.errors import (
    Codes,
    Forbidden,
    InteractiveAuthRequired,
    MatrixError,
)
from homeserver.services.accounts.login import LoginService
from homeserver.services.accounts.registration import is_registration_token
from homeserver.services.clock import Clock
from homeserver.storage.db import Database
from homeserver.storage.stores.registration_tokens import RegistrationTokenStore
from homeserver.storage.stores.uia import UIASession, UIAStore

DUMMY = "m.login.dummy"
PASSWORD = "m.login.password"
REGISTRATION_TOKEN = "m.login.registration_token"

#: Request body keys never stored with a session.
_SECRET_KEYS = frozenset({"auth", "password", "new_password"})
#: How often expired sessions are swept, at most.
_SWEEP_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class UIAResult:
    session_id: str
    #: Stage type → its result (the user id for m.login.password).
    completed: dict[str, Any] = field(default_factory=dict)


class UIAService:
    """Sessions, flows and stages of user-interactive auth."""

    def __init__(self, db: Database, clock: Clock, config: Config, login: LoginService) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._login = login
        self._sessions = UIAStore()
        self._reg_tokens = RegistrationTokenStore()
        self._last_sweep = float("-inf")

    async def check(
        self,
        *,
        auth: dict[str, Any] | None,
        flows: list[list[str]],
        uri: str,
        method: str,
        clientdict: dict[str, Any],
        description: str,
        user_id: str | None = None,
    ) -> UIAResult:
        """Runs one round of user-interactive auth.

        Args:
            auth: the request's ``auth`` object, or None.
            flows: the accepted flows, each a list of stage types.
            uri: the request path the session is bound to.
            method: the request method the session is bound to.
            clientdict: the request body (secrets are dropped before storing).
            description: what the session authorises, for logs and admins.
            user_id: the authenticated requester, if any; password stages
                must name this user.

        Returns:
            The session and its completed stages, once a flow is complete.

        Raises:
            InteractiveAuthRequired: no flow is complete yet (401).
            Forbidden: the session was started for another operation or user,
                or the password stage named another user.
            MatrixError: unknown or expired session (400 M_UNKNOWN).
        """
        await self._maybe_sweep()
        stored_clientdict = {k: v for k, v in clientdict.items() if k not in _SECRET_KEYS}
        session_id = auth.get("session") if auth is not None else None
        if session_id is not None and not isinstance(session_id, str):
            raise MatrixError("'session' must be a string", code=Codes.BAD_JSON)
        if session_id is None:
            session_id = await self._new_session(
                stored_clientdict, uri, method, description, user_id
            )
            session = None
        else:
            session = await self._load_session(session_id, uri, method, user_id)
            if stored_clientdict:
                async with self._db.write() as txn:
                    await self._sessions.set_clientdict(txn, session_id, stored_clientdict)

        error: MatrixError | None = None
        stage = auth.get("type") if auth is not None else None
        if stage is not None:
            try:
                await self._run_stage(session_id, session, stage, auth or {}, flows, user_id)
            except _StageFailed as e:
                error = e.error

        async with self._db.read() as conn:
            completed = await self._sessions.completed_stages(conn, session_id)
        if error is None and any(all(s in completed for s in flow) for flow in flows):
            return UIAResult(session_id=session_id, completed=completed)
        body: dict[str, Any] = {
            "flows": [{"stages": list(flow)} for flow in flows],
            "params": {},
            "session": session_id,
        }
        if completed:
            body["completed"] = sorted(completed)
        if error is not None:
            body.update(error.to_json())
        raise InteractiveAuthRequired(body)

    async def finish(self, result: UIAResult) -> None:
        """Ends a session whose operation succeeded; a reserved registration token use counts."""
        async with self._db.write() as txn:
            session = await self._sessions.get(txn, result.session_id)
            if session is None:
                return
            token = session.serverdict.get("registration_token")
            if isinstance(token, str):
                await self._reg_tokens.complete(txn, token)
            await self._sessions.delete(txn, result.session_id)

    async def _new_session(
        self,
        clientdict: dict[str, Any],
        uri: str,
        method: str,
        description: str,
        user_id: str | None,
    ) -> str:
        session_id = secrets.token_urlsafe(24)
        async with self._db.write() as txn:
            await self._sessions.create(
                txn,
                session_id,
                created_ts=self._clock.time_ms(),
                clientdict=clientdict,
                uri=uri,
                method=method,
                description=description,
            )
            if user_id is not None:
                await self._sessions.set_serverdict_value(txn, session_id, "user_id", user_id)
        return session_id

    async def _load_session(
        self, session_id: str, uri: str, method: str, user_id: str | None
    ) -> UIASession:
        session = None
        if "\x00" not in session_id:
            async with self._db.read() as conn:
                session = await self._sessions.get(conn, session_id)
        lifetime = self._config.auth.uia_session_lifetime_ms
        if session is None or session.created_ts + lifetime <= self._clock.time_ms():
            raise MatrixError("Unknown or expired session ID", code=Codes.UNKNOWN, status=400)
        if session.uri != uri or session.method != method:
            raise Forbidden("Requested operation has changed during the UI authentication session")
        if session.serverdict.get("user_id") != user_id:
            raise Forbidden("This session belongs to another user")
        return session

    async def _run_stage(
        self,
        session_id: str,
        session: UIASession | None,
        stage: Any,
        auth: dict[str, Any],
        flows: list[list[str]],
        user_id: str | None,
    ) -> None:
        if not isinstance(stage, str) or not any(stage in flow for flow in flows):
            raise _StageFailed(
                MatrixError("Unrecognised or unavailable auth type", code=Codes.UNRECOGNIZED)
            )
        result: Any = True
        if stage == PASSWORD:
            result = await self._check_password(auth, user_id)
        elif stage == REGISTRATION_TOKEN:
            await self._check_registration_token(session_id, session, auth)
        async with self._db.write() as txn:
            await self._sessions.mark_stage_complete(txn, session_id, stage, result)

    async def _check_password(self, auth: dict[str, Any], user_id: str | None) -> str:
        password = auth.get("password")
        user = _identified_user(auth)
        if user is None:
            user = user_id
        if not isinstance(password, str) or user is None:
            raise _StageFailed(
                MatrixError("Missing password or user identifier", code=Codes.MISSING_PARAM)
            )
        account = await self._login.resolve_user(user)
        if user_id is not None and (account is None or account.user_id != user_id):
            # Authenticating as someone else is never a retryable stage failure.
            raise Forbidden("Invalid auth: that is not your account")
        try:
            account = await self._login.check_password(user, password)
        except MatrixError as e:
            raise _StageFailed(Forbidden("Invalid password")) from e
        return account.user_id

    async def _check_registration_token(
        self, session_id: str, session: UIASession | None, auth: dict[str, Any]
    ) -> None:
        token = auth.get("token")
        if not isinstance(token, str):
            raise _StageFailed(MatrixError("Missing 'token'", code=Codes.MISSING_PARAM))
        if not is_registration_token(token):
            raise _StageFailed(MatrixError("Invalid registration token", code=Codes.UNAUTHORIZED))
        reserved = session.serverdict.get("registration_token") if session else None
        if reserved == token:
            return
        async with self._db.write() as txn:
            if not await self._reg_tokens.reserve(txn, token, self._clock.time_ms()):
                raise _StageFailed(
                    MatrixError("Invalid registration token", code=Codes.UNAUTHORIZED)
                )
            if isinstance(reserved, str):
                await self._reg_tokens.release(txn, reserved)
            await self._sessions.set_serverdict_value(txn, session_id, "registration_token", token)

    async def _maybe_sweep(self) -> None:
        """Deletes expired sessions and gives back their reserved token uses."""
        mono = self._clock.monotonic()
        if mono - self._last_sweep < _SWEEP_INTERVAL_S:
            return
        self._last_sweep = mono
        cutoff = self._clock.time_ms() - self._config.auth.uia_session_lifetime_ms
        async with self._db.write() as txn:
            for session in await self._sessions.expired(txn, cutoff):
                token = session.serverdict.get("registration_token")
                if isinstance(token, str):
                    await self._reg_tokens.release(txn, token)
                await self._sessions.delete(txn, session.session_id)


class _StageFailed(Exception):
    """A stage did not pass; the error is shown inside the 401 body."""

    def __init__(self, error: MatrixError) -> None:
        super().__init__(error.message)
        self.error = error


def _identified_user(auth: dict[str, Any]) -> str | None:
    """The user an auth dict names: ``identifier`` (m.id.user) or the legacy ``user``."""
    identifier = auth.get("identifier")
    if isinstance(identifier, dict):
        if identifier.get("type") == "m.id.user" and isinstance(identifier.get("user"), str):
            user: str = identifier["user"]
            return user
        return None
    legacy = auth.get("user")
    return legacy if isinstance(legacy, str) else None
