"""The server-default push rules of spec v1.19, for one user.

The spec ("Predefined Rules" in the push notifications module) lists them
per kind in priority order; ``default_rules`` returns them in exactly that
order. Three rules depend on the user: ``.m.rule.invite_for_me`` and
``.m.rule.is_user_mention`` name the user id, ``.m.rule.contains_user_name``
the localpart.

``.m.rule.contains_display_name``, ``.m.rule.roomnotif`` and
``.m.rule.contains_user_name`` are deprecated since v1.7 and "should only be
enabled if the event does not have an ``m.mentions`` property"; the
evaluator applies that (see ``evaluator.LEGACY_MENTION_RULES``).

``.m.rule.master`` sorts before every user-defined override rule; the other
server-default rules sort after the user's rules of their kind (see
``ruleset.build_ruleset``).
"""

from __future__ import annotations

from typing import Any, Final

from homeserver.core.push.rules import CONTENT, OVERRIDE, UNDERRIDE, JsonDict, PushRule

MASTER: Final = ".m.rule.master"

_NOTIFY: Final = "notify"
_SOUND_DEFAULT: Final[JsonDict] = {"set_tweak": "sound", "value": "default"}
_SOUND_RING: Final[JsonDict] = {"set_tweak": "sound", "value": "ring"}
_HIGHLIGHT: Final[JsonDict] = {"set_tweak": "highlight"}


def _match(key: str, pattern: str) -> JsonDict:
    return {"kind": "event_match", "key": key, "pattern": pattern}


def _rule(
    kind: str,
    rule_id: str,
    actions: tuple[Any, ...],
    conditions: tuple[JsonDict, ...] | None = None,
    *,
    enabled: bool = True,
    pattern: str | None = None,
) -> PushRule:
    return PushRule(
        kind=kind,
        rule_id=rule_id,
        actions=actions,
        enabled=enabled,
        default=True,
        conditions=conditions,
        pattern=pattern,
    )


def default_override_rules(user_id: str) -> list[PushRule]:
    """The default override rules, highest priority first."""
    return [
        _rule(OVERRIDE, MASTER, (), (), enabled=False),
        _rule(OVERRIDE, ".m.rule.suppress_notices", (), (_match("content.msgtype", "m.notice"),)),
        _rule(
            OVERRIDE,
            ".m.rule.invite_for_me",
            (_NOTIFY, _SOUND_DEFAULT),
            (
                _match("type", "m.room.member"),
                _match("content.membership", "invite"),
                _match("state_key", user_id),
            ),
        ),
        _rule(OVERRIDE, ".m.rule.member_event", (), (_match("type", "m.room.member"),)),
        _rule(
            OVERRIDE,
            ".m.rule.is_user_mention",
            (_NOTIFY, _SOUND_DEFAULT, _HIGHLIGHT),
            (
                {
                    "kind": "event_property_contains",
                    "key": "content.m\\.mentions.user_ids",
                    "value": user_id,
                },
            ),
        ),
        _rule(
            OVERRIDE,
            ".m.rule.contains_display_name",
            (_NOTIFY, _SOUND_DEFAULT, _HIGHLIGHT),
            ({"kind": "contains_display_name"},),
        ),
        _rule(
            OVERRIDE,
            ".m.rule.is_room_mention",
            (_NOTIFY, _HIGHLIGHT),
            (
                {"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
                {"kind": "sender_notification_permission", "key": "room"},
            ),
        ),
        _rule(
            OVERRIDE,
            ".m.rule.roomnotif",
            (_NOTIFY, _HIGHLIGHT),
            (
                _match("content.body", "@room"),
                {"kind": "sender_notification_permission", "key": "room"},
            ),
        ),
        _rule(
            OVERRIDE,
            ".m.rule.tombstone",
            (_NOTIFY, _HIGHLIGHT),
            (_match("type", "m.room.tombstone"), _match("state_key", "")),
        ),
        _rule(OVERRIDE, ".m.rule.reaction", (), (_match("type", "m.reaction"),)),
        _rule(
            OVERRIDE,
            ".m.rule.room.server_acl",
            (),
            (_match("type", "m.room.server_acl"), _match("state_key", "")),
        ),
        _rule(
            OVERRIDE,
            ".m.rule.suppress_edits",
            (),
            (
                {
                    "kind": "event_property_is",
                    "key": "content.m\\.relates_to.rel_type",
                    "value": "m.replace",
                },
            ),
        ),
    ]


def default_content_rules(user_id: str) -> list[PushRule]:
    """The default content rules: only ``.m.rule.contains_user_name``."""
    localpart = user_id[1:].partition(":")[0]
    return [
        _rule(
            CONTENT,
            ".m.rule.contains_user_name",
            (_NOTIFY, _SOUND_DEFAULT, _HIGHLIGHT),
            pattern=localpart,
        )
    ]


def default_underride_rules() -> list[PushRule]:
    """The default underride rules, highest priority first."""
    return [
        _rule(
            UNDERRIDE, ".m.rule.call", (_NOTIFY, _SOUND_RING), (_match("type", "m.call.invite"),)
        ),
        _rule(
            UNDERRIDE,
            ".m.rule.encrypted_room_one_to_one",
            (_NOTIFY, _SOUND_DEFAULT),
            ({"kind": "room_member_count", "is": "2"}, _match("type", "m.room.encrypted")),
        ),
        _rule(
            UNDERRIDE,
            ".m.rule.room_one_to_one",
            (_NOTIFY, _SOUND_DEFAULT),
            ({"kind": "room_member_count", "is": "2"}, _match("type", "m.room.message")),
        ),
        _rule(UNDERRIDE, ".m.rule.message", (_NOTIFY,), (_match("type", "m.room.message"),)),
        _rule(UNDERRIDE, ".m.rule.encrypted", (_NOTIFY,), (_match("type", "m.room.encrypted"),)),
    ]


def default_rules(user_id: str) -> list[PushRule]:
    """Every server-default rule for ``user_id``: override, content, underride, in order."""
    return [
        *default_override_rules(user_id),
        *default_content_rules(user_id),
        *default_underride_rules(),
    ]
