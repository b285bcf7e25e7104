"""Admin API: server version, registration tokens, event reports, server
notices and background updates.

https://element-hq.github.io/synapse/latest/usage/administration/admin_api/
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.admin.params import ADMIN_V1, report_filters
from homeserver.api.http import (
    MAX_JSON_INT,
    get_obj,
    get_str,
    json_object,
    json_response,
    requester,
    services,
)
from homeserver.api.routing import Auth, Handler, Route
from homeserver.core.errors import (
    BadJson,
    InvalidIdentifier,
    InvalidParam,
    MissingParam,
    NotFound,
)
from homeserver.core.ids import parse_user_id
from homeserver.services.admin.tokens import RegistrationToken


async def server_version(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/server_version"""
    return json_response({"server_version": _version()})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("homeserver")  # the distribution name in pyproject.toml
    except PackageNotFoundError:
        return "0.0.0"


# --- registration tokens ----------------------------------------------------------


def _token_json(token: RegistrationToken) -> dict[str, Any]:
    return {
        "token": token.token,
        "uses_allowed": token.uses_allowed,
        "pending": token.pending,
        "completed": token.completed,
        "expiry_time": token.expiry_time,
    }


#: ``uses_allowed`` is a 32-bit column; ``expiry_time`` a 64-bit one (read_json
#: already refuses anything wider).
_TOKEN_INT_MAX = {"uses_allowed": 2**31 - 1, "expiry_time": MAX_JSON_INT}


def _opt_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= _TOKEN_INT_MAX[key]:
        raise InvalidParam(f"'{key}' must be a non-negative integer or null")
    return value


async def list_tokens(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/registration_tokens

    - ``valid=true|false`` keeps only the (in)valid tokens.
    """
    svc = services(request)
    tokens = await svc.admin.registration_tokens.list()
    valid = request.query.get("valid")
    if valid is not None:
        if valid not in ("true", "false"):
            raise InvalidParam("'valid' must be true or false")
        now = svc.clock.time_ms()
        tokens = [t for t in tokens if t.is_valid(now) == (valid == "true")]
    return json_response({"registration_tokens": [_token_json(t) for t in tokens]})


async def get_token(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/registration_tokens/{token}"""
    found = await services(request).admin.registration_tokens.get(request.match_info["token"])
    return json_response(_token_json(found))


async def create_token(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/registration_tokens/new

    - ``token`` (or ``length`` for a random one), ``uses_allowed``,
      ``expiry_time``.
    """
    svc = services(request)
    body = await json_object(request, allow_empty=True)
    token = get_str(body, "token")
    length = body.get("length", 16)
    if type(length) is not int or not 0 < length <= 64:
        raise InvalidParam("'length' must be an integer between 1 and 64")
    uses = _opt_int(body, "uses_allowed")
    expiry = _opt_int(body, "expiry_time")
    if expiry is not None and expiry < svc.clock.time_ms():
        raise InvalidParam("'expiry_time' must not be in the past")
    created = await svc.admin.registration_tokens.create(
        token, length=length, uses_allowed=uses, expiry_time=expiry
    )
    return json_response(_token_json(created))


async def update_token(request: web.Request) -> web.Response:
    """PUT /_synapse/admin/v1/registration_tokens/{token}

    - ``uses_allowed`` and ``expiry_time`` (null: unlimited / never).
    """
    body = await json_object(request, allow_empty=True)
    fields: dict[str, int | None] = {}
    for key in ("uses_allowed", "expiry_time"):
        if key in body:
            fields[key] = _opt_int(body, key)
    updated = await services(request).admin.registration_tokens.update(
        request.match_info["token"], fields
    )
    return json_response(_token_json(updated))


async def delete_token(request: web.Request) -> web.Response:
    """DELETE /_synapse/admin/v1/registration_tokens/{token}"""
    await services(request).admin.registration_tokens.delete(request.match_info["token"])
    return json_response({})


# --- reports ------------------------------------------------------------------------


_BAD_REPORT_ID = "The report_id parameter must be a positive integer"


def _report_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["reportId"])
    except ValueError as e:
        raise InvalidParam(_BAD_REPORT_ID) from e
    if value < 0:
        raise InvalidParam(_BAD_REPORT_ID)
    if value > MAX_JSON_INT:
        # Well-formed, but beyond any id the table can hold.
        raise NotFound("Event report not found")
    return value


async def list_event_reports(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/event_reports

    - ``from``/``limit``, ``dir`` (default ``b``: newest first),
      ``user_id`` and ``room_id`` filters.
    """
    body = await services(request).admin.reports.list(**report_filters(request))
    return json_response(body)


async def get_event_report(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/event_reports/{reportId}"""
    return json_response(await services(request).admin.reports.get(_report_id(request)))


async def delete_event_report(request: web.Request) -> web.Response:
    """DELETE /_synapse/admin/v1/event_reports/{reportId}"""
    await services(request).admin.reports.delete(_report_id(request))
    return json_response({})


# --- server notices ------------------------------------------------------------------


async def send_server_notice(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/send_server_notice

    - ``user_id`` (local) gets ``content`` (``type``, default
      m.room.message; ``state_key`` for a state event) in their notices room,
      sent by the server notices user.
    """
    return await _send_server_notice(request, None)


async def send_server_notice_txn(request: web.Request) -> web.Response:
    """PUT /_synapse/admin/v1/send_server_notice/{txnId}

    - As the POST form, sent once per transaction id and admin device: a
      retry answers the first ``event_id``.
    """
    return await _send_server_notice(request, request.match_info["txnId"])


async def _send_server_notice(request: web.Request, txn_id: str | None) -> web.Response:
    svc = services(request)
    body = await json_object(request)
    raw_user = get_str(body, "user_id", required=True)
    assert raw_user is not None
    try:
        user_id = parse_user_id(raw_user, strict=False)
    except InvalidIdentifier as e:
        raise InvalidParam("Invalid user id") from e
    if user_id.partition(":")[2] != svc.config.server_name:
        raise InvalidParam("Server notices can only be sent to local users")
    content = get_obj(body, "content", required=True)
    assert content is not None
    event_type = get_str(body, "type", default="m.room.message")
    assert event_type is not None
    state_key = get_str(body, "state_key")
    if state_key is None and event_type == "m.room.message" and "msgtype" not in content:
        raise BadJson("'content' of a message needs a 'msgtype'")
    admin = requester(request)
    event_id = await svc.admin.notices.send(
        user_id,
        content,
        event_type,
        state_key,
        txn_scope=(admin.user_id, admin.device_id or ""),
        txn_id=txn_id,
    )
    return json_response({"event_id": event_id})


# --- background updates ---------------------------------------------------------------


async def background_updates_status(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/background_updates/status

    - Schema changes run when the server starts, so nothing is ever pending.
    """
    return json_response({"enabled": False, "current_updates": {}})


async def background_updates_enabled(request: web.Request) -> web.Response:
    """GET/POST /_synapse/admin/v1/background_updates/enabled"""
    if request.method == "POST":
        body = await json_object(request)
        if "enabled" not in body:
            raise MissingParam("Missing 'enabled'")
        if not isinstance(body["enabled"], bool):
            raise BadJson("'enabled' must be a boolean")
    return json_response({"enabled": False})


def _admin(method: str, path: str, handler: Handler) -> Route:
    return Route(method, path, handler, Auth.ADMIN, resource="admin")


T = f"{ADMIN_V1}/registration_tokens"

routes = [
    _admin("GET", f"{ADMIN_V1}/server_version", server_version),
    _admin("GET", T, list_tokens),
    _admin("POST", f"{T}/new", create_token),
    _admin("GET", f"{T}/{{token}}", get_token),
    _admin("PUT", f"{T}/{{token}}", update_token),
    _admin("DELETE", f"{T}/{{token}}", delete_token),
    _admin("GET", f"{ADMIN_V1}/event_reports", list_event_reports),
    _admin("GET", f"{ADMIN_V1}/event_reports/{{reportId}}", get_event_report),
    _admin("DELETE", f"{ADMIN_V1}/event_reports/{{reportId}}", delete_event_report),
    _admin("POST", f"{ADMIN_V1}/send_server_notice", send_server_notice),
    _admin("PUT", f"{ADMIN_V1}/send_server_notice/{{txnId}}", send_server_notice_txn),
    _admin("GET", f"{ADMIN_V1}/background_updates/status", background_updates_status),
    _admin("GET", f"{ADMIN_V1}/background_updates/enabled", background_updates_enabled),
    _admin("POST", f"{ADMIN_V1}/background_updates/enabled", background_updates_enabled),
]

__all__ = ["NotFound", "routes"]
