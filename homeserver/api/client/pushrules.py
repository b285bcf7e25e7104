"""Push rules: ``/pushrules`` (spec "Push Rules: API")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.http import get_bool, json_object, json_response, requester, services
from homeserver.api.routing import CLIENT_V3, Route
from homeserver.core.errors import MissingParam
from homeserver.services.push.rules import GLOBAL_SCOPE, parse_actions

_RULE = CLIENT_V3 + "/pushrules/global/{kind}/{ruleId}"


def _kind_and_id(request: web.Request) -> tuple[str, str]:
    return request.match_info["kind"], request.match_info["ruleId"]


async def get_push_rules(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/pushrules/

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3pushrules

    - Every ruleset of the user; the only one is ``global``.
    """
    return json_response(await services(request).push.rules.get_all(requester(request).user_id))


async def get_global_push_rules(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/pushrules/global/

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3pushrulesglobal

    - The global ruleset: override, content, postcontent (MSC4306, always
      empty), room, sender, underride.
    """
    rules = await services(request).push.rules.get_all(requester(request).user_id)
    return json_response(rules[GLOBAL_SCOPE])


async def get_push_rule(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3pushrulesglobalkindruleid

    - 404 M_NOT_FOUND for an unknown rule; 400 M_INVALID_PARAM for an unknown kind.
    """
    kind, rule_id = _kind_and_id(request)
    rule = await services(request).push.rules.get_one(requester(request).user_id, kind, rule_id)
    return json_response(rule.to_json())


async def put_push_rule(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3pushrulesglobalkindruleid

    - Creates (enabled, most important of its kind) or replaces a user rule;
      ``before``/``after`` place it next to another user rule.
    - 400 M_INVALID_PARAM: ids starting with '.' or containing '/' or '\\',
      placing next to a server-default rule; 400 M_UNKNOWN: before/after
      rule not found; M_MISSING_PARAM / M_BAD_JSON: bad body.
    """
    kind, rule_id = _kind_and_id(request)
    body = await json_object(request)
    await services(request).push.rules.put_rule(
        requester(request).user_id,
        kind,
        rule_id,
        body,
        before=request.query.get("before"),
        after=request.query.get("after"),
    )
    return json_response({})


async def delete_push_rule(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}

    https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3pushrulesglobalkindruleid

    - 404 M_NOT_FOUND for an unknown rule; 400 M_INVALID_PARAM for a
      server-default rule (those can only be disabled).
    """
    kind, rule_id = _kind_and_id(request)
    await services(request).push.rules.delete_rule(requester(request).user_id, kind, rule_id)
    return json_response({})


async def get_push_rule_enabled(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3pushrulesglobalkindruleidenabled

    - ``{"enabled": bool}``; 404 M_NOT_FOUND for an unknown rule.
    """
    kind, rule_id = _kind_and_id(request)
    rule = await services(request).push.rules.get_one(requester(request).user_id, kind, rule_id)
    return json_response({"enabled": rule.enabled})


async def put_push_rule_enabled(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3pushrulesglobalkindruleidenabled

    - Body ``{"enabled": bool}``; works for server-default rules too.
    - 404 M_NOT_FOUND for an unknown rule; M_MISSING_PARAM / M_BAD_JSON.
    """
    kind, rule_id = _kind_and_id(request)
    body = await json_object(request)
    if "enabled" not in body:
        raise MissingParam("Missing 'enabled'")
    enabled = get_bool(body, "enabled")
    await services(request).push.rules.set_enabled(
        requester(request).user_id, kind, rule_id, enabled
    )
    return json_response({})


async def get_push_rule_actions(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3pushrulesglobalkindruleidactions

    - ``{"actions": [...]}``; 404 M_NOT_FOUND for an unknown rule.
    """
    kind, rule_id = _kind_and_id(request)
    rule = await services(request).push.rules.get_one(requester(request).user_id, kind, rule_id)
    return json_response({"actions": list(rule.actions)})


async def put_push_rule_actions(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3pushrulesglobalkindruleidactions

    - Body ``{"actions": [...]}``; works for server-default rules too.
    - 404 M_NOT_FOUND for an unknown rule; M_MISSING_PARAM / M_BAD_JSON.
    """
    kind, rule_id = _kind_and_id(request)
    actions = parse_actions(await json_object(request))
    await services(request).push.rules.set_actions(
        requester(request).user_id, kind, rule_id, actions
    )
    return json_response({})


routes = [
    Route("GET", CLIENT_V3 + "/pushrules/", get_push_rules),
    Route("GET", CLIENT_V3 + "/pushrules", get_push_rules),
    Route("GET", CLIENT_V3 + "/pushrules/global/", get_global_push_rules),
    Route("GET", CLIENT_V3 + "/pushrules/global", get_global_push_rules),
    Route("GET", _RULE, get_push_rule),
    Route("PUT", _RULE, put_push_rule),
    Route("DELETE", _RULE, delete_push_rule),
    Route("GET", _RULE + "/enabled", get_push_rule_enabled),
    Route("PUT", _RULE + "/enabled", put_push_rule_enabled),
    Route("GET", _RULE + "/actions", get_push_rule_actions),
    Route("PUT", _RULE + "/actions", put_push_rule_actions),
]
