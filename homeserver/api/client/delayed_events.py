"""Delayed events (MSC4140): scheduling through the send endpoints, and management.

Scheduling is the ``org.matrix.msc4140.delay`` query parameter on
``PUT /rooms/{roomId}/send/…`` and ``PUT /rooms/{roomId}/state/…``
(``rooms_send.py`` hands such requests to ``schedule_from_request``).
"""

from __future__ import annotations

import re

from aiohttp import web

from homeserver.api.http import json_object, json_response, requester, services
from homeserver.api.routing import Auth, Route
from homeserver.core.errors import BadJson, InvalidParam, MissingParam, NotFound
from homeserver.services.rooms.delayed import ACTIONS, Action, DelayRequest

MSC4140 = "/_matrix/client/unstable/org.matrix.msc4140"
DELAY_PARAM = "org.matrix.msc4140.delay"
_DELAY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def requested_delay(request: web.Request) -> int | None:
    """The ``org.matrix.msc4140.delay`` query parameter in ms, or None when absent.

    Raises:
        InvalidParam: not a positive integer.
    """
    raw = request.query.get(DELAY_PARAM)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) <= 0 or len(raw) > 15:
        raise InvalidParam(f"'{DELAY_PARAM}' must be a positive integer of milliseconds")
    return int(raw)


async def schedule_from_request(
    request: web.Request,
    room_id: str,
    event_type: str,
    state_key: str | None,
    delay_ms: int,
) -> web.Response:
    """Schedules the event of a send/state request that carried a delay.

    Answers ``{"delay_id": …}``; 400 M_MAX_DELAY_EXCEEDED above the allowed
    delay, 429 M_LIMIT_EXCEEDED when the user has too many scheduled.
    """
    content = await json_object(request)
    delay_id = await services(request).delayed_events.schedule(
        requester(request), DelayRequest(room_id, event_type, state_key, content, delay_ms)
    )
    return json_response({"delay_id": delay_id})


async def get_delayed_events(request: web.Request) -> web.Response:
    """GET /_matrix/client/unstable/org.matrix.msc4140/delayed_events

    MSC4140: https://github.com/matrix-org/matrix-spec-proposals/pull/4140

    - The requester's scheduled delayed events, soonest first:
      ``{"delayed_events": [{delay_id, room_id, type, state_key?, delay,
      running_since, content}]}``.
    """
    events = await services(request).delayed_events.scheduled(requester(request).user_id)
    return json_response({"delayed_events": events})


def _delay_id(request: web.Request) -> str:
    delay_id = request.match_info["delay_id"]
    # Our ids are URL-safe base64 with a prefix; anything else was never issued.
    if not _DELAY_ID.fullmatch(delay_id):
        raise NotFound("No such delayed event")
    return delay_id


async def post_delayed_event(request: web.Request) -> web.Response:
    """POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delay_id}

    MSC4140 (the earlier form, which Element Call uses): the body is
    ``{"action": "restart" | "cancel" | "send"}``.

    - Only the owner's events (404 M_NOT_FOUND otherwise).
    - 400 M_MISSING_PARAM / M_INVALID_PARAM for a missing or unknown action.
    - 409 when already finalised the other way; a repeat of a finished
      ``send`` or ``cancel`` succeeds.
    """
    delay_id = _delay_id(request)
    body = await json_object(request)
    action = body.get("action")
    if action is None:
        raise MissingParam("Missing 'action'")
    if not isinstance(action, str):
        raise BadJson("'action' must be a string")
    if action not in ACTIONS:
        raise InvalidParam(f"'action' must be one of {', '.join(ACTIONS)}")
    await services(request).delayed_events.act(delay_id, _as_action(action), requester(request))
    return json_response({})


async def post_delayed_event_action(request: web.Request) -> web.Response:
    """POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delay_id}/{action}

    MSC4140 (current form): ``action`` is ``restart``, ``cancel`` or ``send``.

    - Unauthenticated: the delay id is the credential, so a call service
      (an SFU) can send a user's "leave" when the user disconnects.
    - 404 M_NOT_FOUND for an unknown delay id; 409 when already finalised
      the other way.
    """
    delay_id = _delay_id(request)
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise InvalidParam(f"action must be one of {', '.join(ACTIONS)}")
    await services(request).delayed_events.act(delay_id, _as_action(action), None)
    return json_response({})


def _as_action(action: str) -> Action:
    for known in ACTIONS:
        if known == action:
            return known
    raise InvalidParam("Unknown action")


routes = [
    Route("GET", MSC4140 + "/delayed_events", get_delayed_events, Auth.USER_OR_GUEST),
    Route("POST", MSC4140 + "/delayed_events/{delay_id}", post_delayed_event, Auth.USER_OR_GUEST),
    Route(
        "POST",
        MSC4140 + "/delayed_events/{delay_id}/{action}",
        post_delayed_event_action,
        Auth.NONE,
    ),
]
