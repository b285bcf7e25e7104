"""Evaluating push rules against an event.

Hot path: a new message is evaluated once per local member of the room, so
the work is split in two.

- Once per event: ``flatten_event`` turns the event into a map of
  dot-separated property paths (spec appendix "Dot-separated property
  paths": ``.`` inside a key is written ``\\.`` and ``\\`` is written
  ``\\\\``) to leaf values.
- Once per ruleset: ``compile_ruleset`` turns rules into matcher closures;
  glob patterns become cached matchers (``core.glob.compile_glob``), which
  run in time linear in the value whatever the pattern: a pattern is user
  input. The service keeps the compiled ruleset per user until their rules
  change.

Then ``evaluate`` walks the enabled rules in priority order and returns the
actions of the first rule whose conditions all hold.

Condition semantics (spec "Conditions"):

- ``event_match``: glob (``*``, ``?``) over a string property, case
  insensitive, matching the whole value; for ``content.body`` any substring
  that starts and ends at a word boundary: not between two word characters
  (``[A-Za-z0-9_]``), as Synapse reads the spec (see ``core.glob``).
- ``event_property_is`` / ``event_property_contains``: exact match of a
  non-compound canonical JSON value (string, integer in the ±(2**53 - 1)
  range, boolean, null); ``true`` never equals ``1``.
- ``contains_display_name``: the user's display name in the room, as a
  word-bounded substring of ``content.body`` (the same word boundaries).
- ``room_member_count``: ``is`` = optional ``==``, ``<``, ``>``, ``<=``,
  ``>=`` and a decimal integer.
- ``sender_notification_permission``: the sender's power level is at least
  the room's ``notifications[key]`` level (default 50).
- Any other kind, or a malformed condition, never matches (so its rule
  never matches). That includes MSC4306's
  ``io.element.msc4306.thread_subscription``: with no thread subscriptions,
  neither its "subscribed" nor its "unsubscribed" form may silence or add
  a notification (Synapse's evaluator answers false with the MSC off).

Deprecated mention rules (``LEGACY_MENTION_RULES``) are skipped when the
event's content has an ``m.mentions`` property (spec v1.7, MSC3952).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from homeserver.core.glob import compile_glob, compile_literal_word
from homeserver.core.push.rules import (
    CONTENT,
    ROOM,
    SENDER,
    PushRule,
    strip_historical_actions,
)

#: Default level of a ``notifications`` key in the power levels (spec).
DEFAULT_NOTIFICATION_LEVEL: Final = 50

#: Deprecated default rules that only apply to events without ``m.mentions``.
LEGACY_MENTION_RULES: Final = frozenset(
    {".m.rule.contains_display_name", ".m.rule.roomnotif", ".m.rule.contains_user_name"}
)

_MAX_SAFE_INT: Final = 2**53 - 1
_MEMBER_COUNT: Final = re.compile(r"(==|<=|>=|<|>)?([0-9]+)")
_BODY_KEY: Final = "content.body"


# --- property paths ---------------------------------------------------------


def escape_segment(segment: str) -> str:
    """One key of a property path, escaped: ``\\`` → ``\\\\``, ``.`` → ``\\.``."""
    return segment.replace("\\", "\\\\").replace(".", "\\.")


def split_path(key: str) -> tuple[str, ...]:
    """The keys of a dot-separated property path, unescaped.

    A backslash before any character other than ``.`` or ``\\`` is kept as a
    literal backslash.
    """
    segments: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(key):
        char = key[i]
        if char == "\\" and i + 1 < len(key) and key[i + 1] in ".\\":
            current.append(key[i + 1])
            i += 2
            continue
        if char == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    segments.append("".join(current))
    return tuple(segments)


def normalise_path(key: str) -> str:
    """``key`` in the escaped form ``flatten_event`` produces."""
    return ".".join(escape_segment(s) for s in split_path(key))


@dataclass(frozen=True, slots=True)
class FlatEvent:
    """An event prepared for evaluation."""

    #: escaped dot-separated path → leaf value (arrays become tuples)
    values: Mapping[str, Any]
    #: the content has an ``m.mentions`` property
    has_mentions: bool = False

    def string(self, path: str) -> str | None:
        value = self.values.get(path)
        return value if isinstance(value, str) else None


def flatten_event(event: Mapping[str, Any]) -> FlatEvent:
    """Flattens a client-format event (nested objects become paths).

    Args:
        event: the event JSON (``type``, ``sender``, ``room_id``,
            ``state_key``, ``content``, ...).
    """
    values: dict[str, Any] = {}
    _flatten_into(values, "", event, depth=0)
    content = event.get("content")
    has_mentions = isinstance(content, Mapping) and "m.mentions" in content
    return FlatEvent(values, has_mentions)


# Events are at most 64 KiB, but a malicious one can still nest deeply.
_MAX_DEPTH: Final = 32


def _flatten_into(out: dict[str, Any], prefix: str, obj: Mapping[str, Any], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    for key, value in obj.items():
        if not isinstance(key, str):
            continue
        path = prefix + escape_segment(key)
        if isinstance(value, Mapping):
            _flatten_into(out, path + ".", value, depth + 1)
        elif isinstance(value, list | tuple):
            out[path] = tuple(value)
        else:
            out[path] = value


# --- globs ------------------------------------------------------------------


def glob_matches(pattern: str, value: str, *, word_boundary: bool = False) -> bool:
    """Whether ``value`` matches the glob (``*``: any run, ``?``: one character),
    case-insensitively; in time linear in ``value`` (``core.glob``)."""
    return bool(compile_glob(pattern, word_boundary=word_boundary)(value))


# --- context ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushContext:
    """What the conditions need to know beyond the event, for one user."""

    user_id: str
    #: joined members of the room
    room_member_count: int
    #: the user's display name in the room (``contains_display_name``)
    user_display_name: str | None = None
    #: the sender's power level (a v12 creator's level is ``math.inf``)
    sender_power_level: float = 0
    #: the ``notifications`` levels of the room's power levels
    notification_levels: Mapping[str, int] = field(default_factory=dict)


Condition = Callable[[FlatEvent, PushContext], bool]


def _never(event: FlatEvent, context: PushContext) -> bool:
    return False


def _is_scalar(value: object) -> bool:
    """A non-compound canonical JSON value."""
    if value is None or isinstance(value, str | bool):
        return True
    return isinstance(value, int) and -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT


def _same_scalar(a: object, b: object) -> bool:
    # type() rather than isinstance: JSON true is not 1.
    return _is_scalar(a) and _is_scalar(b) and type(a) is type(b) and a == b


def _compile_event_match(key: str, pattern: str) -> Condition:
    path = normalise_path(key)
    find = compile_glob(pattern, word_boundary=path == _BODY_KEY)

    def condition(event: FlatEvent, context: PushContext) -> bool:
        value = event.values.get(path)
        return isinstance(value, str) and bool(find(value))

    return condition


def _compile_property_is(key: str, expected: object) -> Condition:
    path = normalise_path(key)

    def condition(event: FlatEvent, context: PushContext) -> bool:
        return path in event.values and _same_scalar(event.values[path], expected)

    return condition


def _compile_property_contains(key: str, expected: object) -> Condition:
    path = normalise_path(key)

    def condition(event: FlatEvent, context: PushContext) -> bool:
        value = event.values.get(path)
        return isinstance(value, tuple) and any(_same_scalar(v, expected) for v in value)

    return condition


def _contains_display_name(event: FlatEvent, context: PushContext) -> bool:
    name = context.user_display_name
    body = event.string(_BODY_KEY)
    if not name or body is None:
        return False
    return bool(compile_literal_word(name)(body))


def _compile_member_count(spec: str) -> Condition:
    match = _MEMBER_COUNT.fullmatch(spec)
    if match is None:
        return _never
    op = match.group(1) or "=="
    number = int(match.group(2))
    compare: Callable[[int], bool] = {
        "==": lambda n: n == number,
        "<": lambda n: n < number,
        ">": lambda n: n > number,
        "<=": lambda n: n <= number,
        ">=": lambda n: n >= number,
    }[op]

    def condition(event: FlatEvent, context: PushContext) -> bool:
        return compare(context.room_member_count)

    return condition


def _compile_sender_permission(key: str) -> Condition:
    def condition(event: FlatEvent, context: PushContext) -> bool:
        required = context.notification_levels.get(key, DEFAULT_NOTIFICATION_LEVEL)
        return context.sender_power_level >= required

    return condition


def compile_condition(condition: object) -> Condition:
    """A matcher for one condition; ``_never`` for unknown or malformed ones."""
    if not isinstance(condition, Mapping):
        return _never
    kind = condition.get("kind")
    key = condition.get("key")
    if kind == "event_match":
        pattern = condition.get("pattern")
        if isinstance(key, str) and isinstance(pattern, str):
            return _compile_event_match(key, pattern)
    elif kind == "event_property_is":
        if isinstance(key, str) and "value" in condition and _is_scalar(condition["value"]):
            return _compile_property_is(key, condition["value"])
    elif kind == "event_property_contains":
        if isinstance(key, str) and "value" in condition and _is_scalar(condition["value"]):
            return _compile_property_contains(key, condition["value"])
    elif kind == "contains_display_name":
        return _contains_display_name
    elif kind == "room_member_count":
        spec = condition.get("is")
        if isinstance(spec, str):
            return _compile_member_count(spec)
    elif kind == "sender_notification_permission" and isinstance(key, str):
        return _compile_sender_permission(key)
    return _never


# --- rules ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule_id: str
    kind: str
    actions: tuple[Any, ...]
    conditions: tuple[Condition, ...]
    #: skipped for events with ``m.mentions`` (``LEGACY_MENTION_RULES``)
    legacy_mention: bool = False

    def matches(self, event: FlatEvent, context: PushContext) -> bool:
        if self.legacy_mention and event.has_mentions:
            return False
        return all(condition(event, context) for condition in self.conditions)


@dataclass(frozen=True, slots=True)
class CompiledRuleset:
    """The enabled rules of one user, compiled, in evaluation order."""

    rules: tuple[CompiledRule, ...]
    #: some enabled rule needs the user's display name
    uses_display_name: bool = False


def _room_condition(room_id: str) -> Condition:
    def condition(event: FlatEvent, context: PushContext) -> bool:
        return event.values.get("room_id") == room_id

    return condition


def _sender_condition(user_id: str) -> Condition:
    def condition(event: FlatEvent, context: PushContext) -> bool:
        return event.values.get("sender") == user_id

    return condition


def compile_rule(rule: PushRule) -> CompiledRule:
    """The compiled form of one rule (its ``enabled`` flag is not consulted)."""
    conditions: tuple[Condition, ...]
    if rule.kind == CONTENT:
        pattern = rule.pattern
        conditions = (
            (_compile_event_match(_BODY_KEY, pattern),) if isinstance(pattern, str) else (_never,)
        )
    elif rule.kind == ROOM:
        conditions = (_room_condition(rule.rule_id),)
    elif rule.kind == SENDER:
        conditions = (_sender_condition(rule.rule_id),)
    else:
        raw = rule.conditions or ()
        conditions = tuple(compile_condition(c) for c in raw)
    actions = rule.actions if isinstance(rule.actions, Sequence) else ()
    return CompiledRule(
        rule_id=rule.rule_id,
        kind=rule.kind,
        actions=strip_historical_actions(actions),
        conditions=conditions,
        legacy_mention=rule.default and rule.rule_id in LEGACY_MENTION_RULES,
    )


def compile_ruleset(rules: Iterable[PushRule]) -> CompiledRuleset:
    """Compiles the enabled rules of ``rules`` (already in evaluation order)."""
    compiled: list[CompiledRule] = []
    uses_display_name = False
    for rule in rules:
        if not rule.enabled:
            continue
        compiled_rule = compile_rule(rule)
        compiled.append(compiled_rule)
        if _contains_display_name in compiled_rule.conditions:
            uses_display_name = True
    return CompiledRuleset(tuple(compiled), uses_display_name)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule_id: str
    kind: str
    actions: tuple[Any, ...]


def match_rule(
    ruleset: CompiledRuleset | Iterable[PushRule],
    event: FlatEvent | Mapping[str, Any],
    context: PushContext,
) -> RuleMatch | None:
    """The first rule that matches, or None.

    Args:
        ruleset: a compiled ruleset, or rules in evaluation order.
        event: a flattened event, or an event to flatten.
        context: the user and room facts the conditions read.
    """
    compiled = ruleset if isinstance(ruleset, CompiledRuleset) else compile_ruleset(ruleset)
    flat = event if isinstance(event, FlatEvent) else flatten_event(event)
    for rule in compiled.rules:
        if rule.matches(flat, context):
            return RuleMatch(rule.rule_id, rule.kind, rule.actions)
    return None


def evaluate(
    ruleset: CompiledRuleset | Iterable[PushRule],
    event: FlatEvent | Mapping[str, Any],
    context: PushContext,
) -> tuple[Any, ...]:
    """The actions for ``event``: those of the first matching rule, else none.

    Never raises on malformed rules or events (they simply don't match).
    """
    found = match_rule(ruleset, event, context)
    return found.actions if found is not None else ()
