"""Error codes, the MatrixError family and the core's domain errors.

Services and the HTTP edge raise ``MatrixError`` subclasses; only
``api/middleware.py`` renders them. The core raises domain errors
(``AuthRuleViolation``, ``InvalidEvent``, ``CanonicalJsonError``) that carry
no HTTP meaning: on the client path a service maps them to a MatrixError, on
the federation path they mean "reject this PDU".
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Codes(StrEnum):
    UNKNOWN = "M_UNKNOWN"
    UNRECOGNIZED = "M_UNRECOGNIZED"
    FORBIDDEN = "M_FORBIDDEN"
    UNKNOWN_TOKEN = "M_UNKNOWN_TOKEN"
    MISSING_TOKEN = "M_MISSING_TOKEN"
    USER_LOCKED = "M_USER_LOCKED"
    USER_SUSPENDED = "M_USER_SUSPENDED"
    BAD_JSON = "M_BAD_JSON"
    NOT_JSON = "M_NOT_JSON"
    NOT_FOUND = "M_NOT_FOUND"
    LIMIT_EXCEEDED = "M_LIMIT_EXCEEDED"
    USER_IN_USE = "M_USER_IN_USE"
    INVALID_USERNAME = "M_INVALID_USERNAME"
    ROOM_IN_USE = "M_ROOM_IN_USE"
    INVALID_ROOM_STATE = "M_INVALID_ROOM_STATE"
    THREEPID_IN_USE = "M_THREEPID_IN_USE"
    THREEPID_NOT_FOUND = "M_THREEPID_NOT_FOUND"
    THREEPID_AUTH_FAILED = "M_THREEPID_AUTH_FAILED"
    THREEPID_DENIED = "M_THREEPID_DENIED"
    THREEPID_MEDIUM_NOT_SUPPORTED = "M_THREEPID_MEDIUM_NOT_SUPPORTED"
    SERVER_NOT_TRUSTED = "M_SERVER_NOT_TRUSTED"
    UNSUPPORTED_ROOM_VERSION = "M_UNSUPPORTED_ROOM_VERSION"
    INCOMPATIBLE_ROOM_VERSION = "M_INCOMPATIBLE_ROOM_VERSION"
    BAD_STATE = "M_BAD_STATE"
    GUEST_ACCESS_FORBIDDEN = "M_GUEST_ACCESS_FORBIDDEN"
    CAPTCHA_NEEDED = "M_CAPTCHA_NEEDED"
    CAPTCHA_INVALID = "M_CAPTCHA_INVALID"
    MISSING_PARAM = "M_MISSING_PARAM"
    INVALID_PARAM = "M_INVALID_PARAM"
    TOO_LARGE = "M_TOO_LARGE"
    EXCLUSIVE = "M_EXCLUSIVE"
    RESOURCE_LIMIT_EXCEEDED = "M_RESOURCE_LIMIT_EXCEEDED"
    CANNOT_LEAVE_SERVER_NOTICE_ROOM = "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM"
    INVITE_BLOCKED = "M_INVITE_BLOCKED"
    WEAK_PASSWORD = "M_WEAK_PASSWORD"
    USER_DEACTIVATED = "M_USER_DEACTIVATED"
    INVALID_SIGNATURE = "M_INVALID_SIGNATURE"
    UNAUTHORIZED = "M_UNAUTHORIZED"
    NOT_YET_UPLOADED = "M_NOT_YET_UPLOADED"
    CANNOT_OVERWRITE_MEDIA = "M_CANNOT_OVERWRITE_MEDIA"
    UNABLE_TO_AUTHORISE_JOIN = "M_UNABLE_TO_AUTHORISE_JOIN"
    UNABLE_TO_GRANT_JOIN = "M_UNABLE_TO_GRANT_JOIN"
    DUPLICATE_ANNOTATION = "M_DUPLICATE_ANNOTATION"
    WRONG_ROOM_KEYS_VERSION = "M_WRONG_ROOM_KEYS_VERSION"
    INVALID_ROOM_VERSION = "M_INVALID_ROOM_VERSION"  # not in spec; Synapse-compatible
    BAD_ALIAS = "M_BAD_ALIAS"
    EXPIRED_ACCOUNT = "ORG_MATRIX_EXPIRED_ACCOUNT"
    # Application services (appservice ping and device masquerading).
    URL_NOT_SET = "M_URL_NOT_SET"
    BAD_STATUS = "M_BAD_STATUS"
    CONNECTION_FAILED = "M_CONNECTION_FAILED"
    CONNECTION_TIMEOUT = "M_CONNECTION_TIMEOUT"
    UNKNOWN_DEVICE = "M_UNKNOWN_DEVICE"  # not in spec; Synapse-compatible
    APPSERVICE_LOGIN_UNSUPPORTED = "M_APPSERVICE_LOGIN_UNSUPPORTED"


#: Default HTTP status of each errcode; an exception may override it.
STATUS_FOR_CODE: dict[Codes, int] = {
    Codes.UNKNOWN: 400,
    Codes.UNRECOGNIZED: 404,
    Codes.FORBIDDEN: 403,
    Codes.UNKNOWN_TOKEN: 401,
    Codes.MISSING_TOKEN: 401,
    Codes.USER_LOCKED: 401,
    Codes.USER_SUSPENDED: 403,
    Codes.BAD_JSON: 400,
    Codes.NOT_JSON: 400,
    Codes.NOT_FOUND: 404,
    Codes.LIMIT_EXCEEDED: 429,
    Codes.USER_IN_USE: 400,
    Codes.INVALID_USERNAME: 400,
    Codes.ROOM_IN_USE: 400,
    Codes.INVALID_ROOM_STATE: 400,
    Codes.THREEPID_IN_USE: 400,
    Codes.THREEPID_NOT_FOUND: 400,
    Codes.THREEPID_AUTH_FAILED: 401,
    Codes.THREEPID_DENIED: 403,
    Codes.THREEPID_MEDIUM_NOT_SUPPORTED: 400,
    Codes.SERVER_NOT_TRUSTED: 400,
    Codes.UNSUPPORTED_ROOM_VERSION: 400,
    Codes.INCOMPATIBLE_ROOM_VERSION: 400,
    Codes.BAD_STATE: 400,
    Codes.GUEST_ACCESS_FORBIDDEN: 403,
    Codes.CAPTCHA_NEEDED: 401,
    Codes.CAPTCHA_INVALID: 400,
    Codes.MISSING_PARAM: 400,
    Codes.INVALID_PARAM: 400,
    Codes.TOO_LARGE: 413,
    Codes.EXCLUSIVE: 400,
    Codes.RESOURCE_LIMIT_EXCEEDED: 403,
    Codes.CANNOT_LEAVE_SERVER_NOTICE_ROOM: 403,
    Codes.INVITE_BLOCKED: 403,
    Codes.WEAK_PASSWORD: 400,
    Codes.USER_DEACTIVATED: 403,
    Codes.INVALID_SIGNATURE: 401,
    Codes.UNAUTHORIZED: 401,
    Codes.NOT_YET_UPLOADED: 504,
    Codes.CANNOT_OVERWRITE_MEDIA: 409,
    Codes.UNABLE_TO_AUTHORISE_JOIN: 400,
    Codes.UNABLE_TO_GRANT_JOIN: 502,
    Codes.DUPLICATE_ANNOTATION: 400,
    Codes.WRONG_ROOM_KEYS_VERSION: 403,
    Codes.INVALID_ROOM_VERSION: 400,
    Codes.BAD_ALIAS: 400,
    Codes.EXPIRED_ACCOUNT: 403,
    Codes.URL_NOT_SET: 400,
    Codes.APPSERVICE_LOGIN_UNSUPPORTED: 400,
    Codes.BAD_STATUS: 502,
    Codes.CONNECTION_FAILED: 502,
    Codes.CONNECTION_TIMEOUT: 504,
    Codes.UNKNOWN_DEVICE: 400,
}


class MatrixError(Exception):
    """An error the client API reports as ``{"errcode", "error", ...extra}``."""

    code: Codes = Codes.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: Codes | None = None,
        status: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.status = status if status is not None else STATUS_FOR_CODE.get(self.code, 400)
        self.extra: dict[str, Any] = extra

    def to_json(self) -> dict[str, Any]:
        return {"errcode": str(self.code), "error": self.message, **self.extra}


class Unrecognized(MatrixError):
    code = Codes.UNRECOGNIZED


class Forbidden(MatrixError):
    code = Codes.FORBIDDEN


class NotFound(MatrixError):
    code = Codes.NOT_FOUND


class BadJson(MatrixError):
    code = Codes.BAD_JSON


class NotJson(MatrixError):
    code = Codes.NOT_JSON


class MissingParam(MatrixError):
    code = Codes.MISSING_PARAM


class InvalidParam(MatrixError):
    code = Codes.INVALID_PARAM


class TooLarge(MatrixError):
    code = Codes.TOO_LARGE


class MissingToken(MatrixError):
    code = Codes.MISSING_TOKEN


class UnknownToken(MatrixError):
    code = Codes.UNKNOWN_TOKEN

    def __init__(self, message: str = "Unknown access token", *, soft_logout: bool = False) -> None:
        super().__init__(message, soft_logout=soft_logout)


class UserLocked(MatrixError):
    """A locked account may only log out (spec "Account locking")."""

    code = Codes.USER_LOCKED

    def __init__(self, message: str = "This account has been locked") -> None:
        super().__init__(message, soft_logout=True)


class UserSuspended(MatrixError):
    """A suspended account may read but not act (spec "Account suspension")."""

    code = Codes.USER_SUSPENDED

    def __init__(self, message: str = "This account has been suspended") -> None:
        super().__init__(message)


class LimitExceeded(MatrixError):
    code = Codes.LIMIT_EXCEEDED

    def __init__(self, retry_after_ms: int, message: str = "Too many requests") -> None:
        super().__init__(message, retry_after_ms=retry_after_ms)
        self.retry_after_ms = retry_after_ms


class UserInUse(MatrixError):
    code = Codes.USER_IN_USE


class InvalidUsername(MatrixError):
    code = Codes.INVALID_USERNAME


class UnsupportedRoomVersion(MatrixError):
    code = Codes.UNSUPPORTED_ROOM_VERSION


class UserDeactivated(MatrixError):
    code = Codes.USER_DEACTIVATED


class WeakPassword(MatrixError):
    code = Codes.WEAK_PASSWORD


class InteractiveAuthRequired(MatrixError):
    """401 carrying the user-interactive auth state (flows, params, session)."""

    code = Codes.UNKNOWN

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__("Interactive authentication required", status=401)
        self.body = body

    def to_json(self) -> dict[str, Any]:
        return dict(self.body)


# --- Domain errors of the pure core: no HTTP meaning -------------------------


class CoreError(Exception):
    """Base of the errors raised by ``homeserver.core``."""


class InvalidIdentifier(CoreError, ValueError):
    """An identifier does not match the grammar of its kind."""


class CanonicalJsonError(CoreError, ValueError):
    """A value cannot be encoded as canonical JSON (float, out-of-range int...)."""


class InvalidEvent(CoreError, ValueError):
    """A PDU is malformed: wrong field types, too large, bad hashes..."""


class AuthRuleViolation(CoreError):
    """An event is not allowed by the authorization rules.

    ``rule`` names the rule that forbids it, for logs and client messages.
    """

    def __init__(self, message: str, rule: str = "") -> None:
        super().__init__(message)
        self.rule = rule


class SignatureError(CoreError):
    """A signature is missing or does not verify."""
