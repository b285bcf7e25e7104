"""The effective ruleset of a user: their own rules merged with the defaults.

Priority within the whole ruleset, highest first (spec "Push Rules" and
"Predefined Rules"):

1. ``.m.rule.master`` (always above user-defined rules);
2. per kind, in the order override, content, room, sender, underride: the
   user's rules of that kind in their chosen order, then the server-default
   rules of that kind in spec order.

A user changes a server-default rule only through its ``enabled`` flag and
its ``actions``; those changes come in as ``DefaultRuleChange`` values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from homeserver.core.push.default_rules import MASTER, default_rules
from homeserver.core.push.rules import KINDS, OVERRIDE, JsonDict, PushRule


@dataclass(frozen=True, slots=True)
class DefaultRuleChange:
    """A user's change to one server-default rule (None: unchanged)."""

    enabled: bool | None = None
    actions: tuple[Any, ...] | None = None


@dataclass(frozen=True, slots=True)
class Ruleset:
    """Every rule of one user, per kind, in priority order (highest first)."""

    by_kind: Mapping[str, tuple[PushRule, ...]] = field(default_factory=dict)

    def rules(self, kind: str) -> tuple[PushRule, ...]:
        return self.by_kind.get(kind, ())

    def __iter__(self) -> Iterator[PushRule]:
        """Every rule in evaluation order."""
        for kind in KINDS:
            yield from self.rules(kind)

    def find(self, kind: str, rule_id: str) -> PushRule | None:
        for rule in self.rules(kind):
            if rule.rule_id == rule_id:
                return rule
        return None

    def to_json(self) -> JsonDict:
        """The ``Ruleset`` object of the client API (every kind present)."""
        return {kind: [rule.to_json() for rule in self.rules(kind)] for kind in KINDS}


def build_ruleset(
    user_id: str,
    user_rules: Sequence[PushRule],
    default_changes: Mapping[str, DefaultRuleChange] | None = None,
) -> Ruleset:
    """The effective ruleset.

    Args:
        user_id: whose rules (the defaults mention the user id).
        user_rules: the user's own rules; within a kind, in priority order
            (highest first).
        default_changes: rule id → the user's change to that default rule.

    Returns:
        The ruleset in evaluation order.
    """
    changes = default_changes or {}
    defaults: dict[str, list[PushRule]] = {kind: [] for kind in KINDS}
    for rule in default_rules(user_id):
        change = changes.get(rule.rule_id)
        if change is not None:
            rule = replace(
                rule,
                enabled=rule.enabled if change.enabled is None else change.enabled,
                actions=rule.actions if change.actions is None else change.actions,
            )
        defaults[rule.kind].append(rule)
    own: dict[str, list[PushRule]] = {kind: [] for kind in KINDS}
    for rule in user_rules:
        if rule.kind in own:
            own[rule.kind].append(rule)
    by_kind: dict[str, tuple[PushRule, ...]] = {}
    for kind in KINDS:
        if kind == OVERRIDE:
            master = [r for r in defaults[kind] if r.rule_id == MASTER]
            rest = [r for r in defaults[kind] if r.rule_id != MASTER]
            by_kind[kind] = (*master, *own[kind], *rest)
        else:
            by_kind[kind] = (*own[kind], *defaults[kind])
    return Ruleset(by_kind)
