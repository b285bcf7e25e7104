"""The push rule model.

A rule has a ``kind`` (``override``, ``content``, ``room``, ``sender``,
``underride``), a ``rule_id`` unique within its kind, ``actions``, an
``enabled`` flag and, depending on the kind, ``conditions`` (override and
underride) or a ``pattern`` (content). Room and sender rules have neither:
their ``rule_id`` is the room or user id they apply to.

Server-default rules have ids starting with ``.`` and ``default = True``.

``postcontent`` is MSC4306's (thread subscriptions) sixth kind, checked
after ``content`` and before ``room`` as Synapse does. Its only rules would
be the server defaults ``.io.element.msc4306.rule.subscribed_thread`` and
``.unsubscribed_thread``; thread subscriptions are not implemented, so, like
Synapse with the MSC off (its default), the kind is known on every
``/pushrules`` path but holds no rules, and clients may not add any.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

JsonDict = dict[str, Any]

OVERRIDE: Final = "override"
CONTENT: Final = "content"
POSTCONTENT: Final = "postcontent"
ROOM: Final = "room"
SENDER: Final = "sender"
UNDERRIDE: Final = "underride"

#: The kinds, in the order they are checked.
KINDS: Final = (OVERRIDE, CONTENT, POSTCONTENT, ROOM, SENDER, UNDERRIDE)

#: Actions from older spec versions that servers must ignore (spec v1.7).
HISTORICAL_ACTIONS: Final = frozenset({"dont_notify", "coalesce"})


@dataclass(frozen=True, slots=True)
class PushRule:
    """One push rule as stored and served (actions and conditions are raw JSON)."""

    kind: str
    rule_id: str
    actions: tuple[Any, ...]
    enabled: bool = True
    default: bool = False
    #: override/postcontent/underride only; None for the other kinds
    conditions: tuple[JsonDict, ...] | None = None
    #: content only
    pattern: str | None = None

    def to_json(self) -> JsonDict:
        """The ``PushRule`` object of the client API."""
        out: JsonDict = {
            "rule_id": self.rule_id,
            "default": self.default,
            "enabled": self.enabled,
            "actions": list(self.actions),
        }
        if self.conditions is not None:
            out["conditions"] = [dict(c) for c in self.conditions]
        if self.pattern is not None:
            out["pattern"] = self.pattern
        return out


def strip_historical_actions(actions: Sequence[Any]) -> tuple[Any, ...]:
    """``actions`` without ``dont_notify`` and ``coalesce`` (spec: MUST be ignored)."""
    return tuple(a for a in actions if not (isinstance(a, str) and a in HISTORICAL_ACTIONS))


def is_valid_action(action: object) -> bool:
    """Whether ``action`` is a string or a ``set_tweak`` object.

    Unknown string actions are tolerated (clients and gateways may agree on
    more); objects must name a tweak.
    """
    if isinstance(action, str):
        return True
    if isinstance(action, Mapping):
        return isinstance(action.get("set_tweak"), str)
    return False


def is_valid_rule_id(rule_id: str) -> bool:
    """Whether a client may create a rule with this id.

    Ids starting with ``.`` are reserved for server-default rules; ``/`` and
    ``\\`` are not allowed (spec: ``PUT /pushrules/global/{kind}/{ruleId}``).
    """
    return bool(rule_id) and not rule_id.startswith(".") and not any(c in rule_id for c in "/\\")


def is_server_default_id(rule_id: str) -> bool:
    return rule_id.startswith(".")


def notify_and_highlight(actions: Sequence[Any]) -> tuple[bool, bool]:
    """Whether ``actions`` notify, and whether they highlight.

    A ``highlight`` tweak without a value means true; no highlight tweak
    means false. A highlight without ``notify`` still counts as a highlight
    only when it notifies (counts are of notifications).
    """
    notify = "notify" in actions
    highlight = False
    for action in actions:
        if isinstance(action, Mapping) and action.get("set_tweak") == "highlight":
            value = action.get("value", True)
            highlight = value is True
    return notify, notify and highlight


def tweaks_of(actions: Sequence[Any]) -> JsonDict:
    """The ``tweaks`` object for the push gateway: every ``set_tweak`` in order."""
    tweaks: JsonDict = {}
    for action in actions:
        if isinstance(action, Mapping):
            name = action.get("set_tweak")
            if isinstance(name, str):
                tweaks[name] = (
                    action.get("value", True) if name == "highlight" else action.get("value")
                )
    return tweaks
