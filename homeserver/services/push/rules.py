"""Push rules of a user: the ``/pushrules`` semantics and the compiled-rule cache.

A user's effective ruleset is their own rules merged with the server-default
rules (``core.push.ruleset``). Every change:

- is written in one transaction together with the ``m.push_rules`` account
  data event (the whole ruleset under ``global``, spec "Push Rules: Events"),
  so ``/sync`` sees it in the account-data stream;
- drops the user's compiled ruleset from the in-process cache.

The cache holds compiled rulesets of recently active users. The service
also knows which users have rules of their own (``users_with_own_rules``):
everybody else shares the server-default rules, which a message evaluates
once for all of them (see ``services/push/actions.py``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from homeserver.core.errors import BadJson, Codes, InvalidParam, MatrixError, MissingParam, NotFound
from homeserver.core.push.evaluator import CompiledRuleset, compile_ruleset
from homeserver.core.push.rules import (
    CONTENT,
    KINDS,
    OVERRIDE,
    POSTCONTENT,
    ROOM,
    UNDERRIDE,
    PushRule,
    is_server_default_id,
    is_valid_action,
    is_valid_rule_id,
)
from homeserver.core.push.ruleset import DefaultRuleChange, Ruleset, build_ruleset
from homeserver.notifier import Notifier
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.account_data import AccountDataStore
from homeserver.storage.stores.push import PushStore, UserRules

JsonDict = dict[str, Any]

#: Users whose compiled rulesets are kept.
COMPILED_CACHE_SIZE = 10_000

#: The only scope the spec defines.
GLOBAL_SCOPE = "global"


class RuleNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Push rule not found")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidParam(f"Unknown push rule kind: {kind}")
    return kind


def parse_actions(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """``body["actions"]``: required, an array of valid actions.

    Kept as given: the historical ``dont_notify`` and ``coalesce`` are read
    back as written (as Synapse does); only evaluation ignores them
    (``core.push.evaluator.compile_rule``).
    """
    if "actions" not in body:
        raise MissingParam("Missing 'actions'")
    actions = body["actions"]
    if not isinstance(actions, list) or not all(is_valid_action(a) for a in actions):
        raise BadJson("'actions' must be an array of strings or set_tweak objects")
    return tuple(actions)


#: A user id no real user can have (its localpart and server are empty).
GENERIC_USER = "@\x00:\x00"


@functools.cache
def generic_default_ruleset() -> CompiledRuleset:
    """The default rules of no real user: what a member who is not named by
    an event gets (see ``PushActions._evaluate``). ``.m.rule.contains_user_name``
    is off, since its pattern would be the placeholder's localpart; real
    users' names are checked separately."""
    return compile_ruleset(
        build_ruleset(
            GENERIC_USER, [], {".m.rule.contains_user_name": DefaultRuleChange(enabled=False)}
        )
    )


class PushRulesService:
    """Reads and changes push rules; caches compiled rulesets per user."""

    def __init__(
        self,
        db: Database,
        store: PushStore,
        account_data: AccountDataStore,
        notifier: Notifier | None = None,
        *,
        cache_size: int = COMPILED_CACHE_SIZE,
    ) -> None:
        self._db = db
        self._store = store
        self._account_data = account_data
        self._notifier = notifier
        self._cache_size = cache_size
        self._compiled: OrderedDict[str, CompiledRuleset] = OrderedDict()
        #: users with stored rules or changes to the defaults (None: not loaded yet)
        self._own_rules: set[str] | None = None
        #: users whose rules changed since start (kept across a concurrent load)
        self._changed: set[str] = set()
        #: bumped whenever a user's rules change
        self.generation = 0
        #: the default rules of no real user: what a member who is not
        #: mentioned gets (see ``PushActions._evaluate``)
        self.generic_default = generic_default_ruleset()

    # --- reading ----------------------------------------------------------------

    async def ruleset(self, user_id: str) -> Ruleset:
        """The user's effective ruleset."""
        async with self._db.read() as conn:
            stored = (await self._store.get_rules(conn, [user_id]))[user_id]
        return _build(user_id, stored)

    async def compiled_for(self, user_ids: Sequence[str]) -> dict[str, CompiledRuleset]:
        """Compiled rulesets of several users (one batched read for cache misses)."""
        out: dict[str, CompiledRuleset] = {}
        missing: list[str] = []
        for user_id in user_ids:
            cached = self._compiled.get(user_id)
            if cached is None:
                missing.append(user_id)
            else:
                self._compiled.move_to_end(user_id)
                out[user_id] = cached
        if missing:
            async with self._db.read() as conn:
                stored = await self._store.get_rules(conn, missing)
            for user_id in missing:
                compiled = compile_ruleset(_build(user_id, stored[user_id]))
                out[user_id] = compiled
                self._remember(user_id, compiled)
        return out

    async def users_with_own_rules(self) -> set[str]:
        """The users whose rules differ from the server defaults (or once did:
        a user who reverts a change stays in the set, which only costs a full
        evaluation). Read from the database once, then kept in step."""
        if self._own_rules is None:
            async with self._db.read() as conn:
                loaded = await self._store.users_with_own_rules(conn)
            if self._own_rules is None:
                self._own_rules = loaded | self._changed
        return self._own_rules

    def _remember(self, user_id: str, compiled: CompiledRuleset) -> None:
        self._compiled[user_id] = compiled
        self._compiled.move_to_end(user_id)
        while len(self._compiled) > self._cache_size:
            self._compiled.popitem(last=False)

    async def get_all(self, user_id: str) -> JsonDict:
        """``GET /pushrules/``: ``{"global": ruleset}``."""
        return {GLOBAL_SCOPE: (await self.ruleset(user_id)).to_json()}

    async def get_one(self, user_id: str, kind: str, rule_id: str) -> PushRule:
        """One rule of the effective ruleset.

        Raises:
            InvalidParam: unknown kind.
            NotFound: no such rule.
        """
        rule = (await self.ruleset(user_id)).find(check_kind(kind), rule_id)
        if rule is None:
            raise RuleNotFound()
        return rule

    # --- changing ---------------------------------------------------------------

    async def put_rule(
        self,
        user_id: str,
        kind: str,
        rule_id: str,
        body: Mapping[str, Any],
        *,
        before: str | None = None,
        after: str | None = None,
    ) -> None:
        """Creates or replaces a user-defined rule (``PUT /pushrules/global/{kind}/{ruleId}``).

        A new rule is enabled and, without ``before``/``after``, becomes the
        most important user rule of its kind; a replaced rule keeps its place
        and its enabled flag unless ``before``/``after`` move it. With both,
        ``before`` wins.

        Raises:
            InvalidParam: unknown kind; ``postcontent`` (MSC4306 allows no
                user rules there); a reserved or malformed rule id;
                ``before``/``after`` naming a server-default rule.
            MissingParam / BadJson: bad ``actions``, ``conditions`` or ``pattern``.
            MatrixError: 400 M_UNKNOWN when ``before``/``after`` is not a rule
                of the user (the spec's example error).
        """
        check_kind(kind)
        if kind == POSTCONTENT:
            raise InvalidParam("User-defined rules of kind 'postcontent' are not accepted")
        if not is_valid_rule_id(rule_id):
            raise InvalidParam(
                "Invalid rule id: ids starting with '.' are reserved, '/' and '\\' are not allowed"
            )
        actions = parse_actions(body)
        conditions: tuple[JsonDict, ...] | None = None
        pattern: str | None = None
        if kind in (OVERRIDE, UNDERRIDE):
            raw = body.get("conditions", [])
            if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
                raise BadJson("'conditions' must be an array of objects")
            if any(not isinstance(c.get("kind"), str) for c in raw):
                raise BadJson("Every condition needs a 'kind'")
            conditions = tuple(raw)
        elif kind == CONTENT:
            raw_pattern = body.get("pattern")
            if raw_pattern is None:
                raise MissingParam("Content rules need a 'pattern'")
            if not isinstance(raw_pattern, str):
                raise BadJson("'pattern' must be a string")
            pattern = raw_pattern
        anchor = before if before is not None else after
        if anchor is not None and is_server_default_id(anchor):
            raise InvalidParam("Rules cannot be placed relative to server-default rules")

        async with self._db.write() as txn:
            stored = (await self._store.get_rules(txn, [user_id]))[user_id]
            own = [r for r in stored.rules if r.kind == kind]
            existing = next((r for r in own if r.rule_id == rule_id), None)
            rule = PushRule(
                kind=kind,
                rule_id=rule_id,
                actions=actions,
                enabled=existing.enabled if existing is not None else True,
                conditions=conditions,
                pattern=pattern,
            )
            others = [r for r in own if r.rule_id != rule_id]
            if anchor is not None:
                index = next((i for i, r in enumerate(others) if r.rule_id == anchor), None)
                if index is None:
                    raise MatrixError(f"before/after rule not found: {anchor}", code=Codes.UNKNOWN)
                position = index if before is not None else index + 1
            elif existing is not None:
                position = own.index(existing)
            else:
                position = 0
            others.insert(position, rule)
            await self._store.replace_kind(txn, user_id, kind, others)
            stream_position = await self._publish(txn, user_id)
        self._after_commit(user_id, stream_position)

    async def delete_rule(self, user_id: str, kind: str, rule_id: str) -> None:
        """Deletes a user-defined rule.

        Raises:
            InvalidParam: unknown kind, or a server-default rule (those can
                only be disabled).
            NotFound: no such rule.
        """
        check_kind(kind)
        if is_server_default_id(rule_id):
            if (await self.ruleset(user_id)).find(kind, rule_id) is None:
                raise RuleNotFound()
            raise InvalidParam("Server-default rules cannot be deleted")
        async with self._db.write() as txn:
            stored = (await self._store.get_rules(txn, [user_id]))[user_id]
            own = [r for r in stored.rules if r.kind == kind]
            kept = [r for r in own if r.rule_id != rule_id]
            if len(kept) == len(own):
                raise RuleNotFound()
            await self._store.replace_kind(txn, user_id, kind, kept)
            stream_position = await self._publish(txn, user_id)
        self._after_commit(user_id, stream_position)

    async def set_enabled(self, user_id: str, kind: str, rule_id: str, enabled: bool) -> None:
        """``PUT .../enabled``. Raises NotFound for an unknown rule."""
        await self._change(user_id, kind, rule_id, enabled=enabled)

    async def set_actions(
        self, user_id: str, kind: str, rule_id: str, actions: tuple[Any, ...]
    ) -> None:
        """``PUT .../actions``. Raises NotFound for an unknown rule."""
        await self._change(user_id, kind, rule_id, actions=actions)

    async def _change(
        self,
        user_id: str,
        kind: str,
        rule_id: str,
        *,
        enabled: bool | None = None,
        actions: tuple[Any, ...] | None = None,
    ) -> None:
        check_kind(kind)
        async with self._db.write() as txn:
            stored = (await self._store.get_rules(txn, [user_id]))[user_id]
            if is_server_default_id(rule_id):
                if _build(user_id, stored).find(kind, rule_id) is None:
                    raise RuleNotFound()
                old = stored.defaults.get(rule_id, DefaultRuleChange())
                change = DefaultRuleChange(
                    enabled=old.enabled if enabled is None else enabled,
                    actions=old.actions if actions is None else actions,
                )
                await self._store.set_default_change(txn, user_id, rule_id, change)
            else:
                own = [r for r in stored.rules if r.kind == kind]
                index = next((i for i, r in enumerate(own) if r.rule_id == rule_id), None)
                if index is None:
                    raise RuleNotFound()
                rule = own[index]
                own[index] = dataclasses.replace(
                    rule,
                    enabled=rule.enabled if enabled is None else enabled,
                    actions=rule.actions if actions is None else actions,
                )
                await self._store.replace_kind(txn, user_id, kind, own)
            stream_position = await self._publish(txn, user_id)
        self._after_commit(user_id, stream_position)

    async def copy_room_rules(self, user_id: str, old_room_id: str, new_room_id: str) -> bool:
        """Copies the user's enabled rules about ``old_room_id`` to
        ``new_room_id`` (a room upgrade; the spec is silent, this is what
        Synapse does).

        A rule is about the old room when it is its ``room`` rule, or when a
        condition matches ``room_id`` against the old room's id. Each copy
        is named after the new room (so it never replaces the original),
        its ``room_id`` conditions point at the new room, and it becomes
        the most important rule of its kind, replacing a rule of that id.

        Returns:
            Whether the user's rules changed.
        """
        async with self._db.write() as txn:
            stored = (await self._store.get_rules(txn, [user_id]))[user_id]
            copies = [
                _copy_to_room(rule, new_room_id)
                for rule in stored.rules
                if rule.enabled and _is_about_room(rule, old_room_id)
            ]
            changed = False
            for kind in dict.fromkeys(c.kind for c in copies):
                own = [r for r in stored.rules if r.kind == kind]
                # the last copy of an id wins, as successive upserts would
                copy = next(c for c in reversed(copies) if c.kind == kind)
                replaced = [copy, *(r for r in own if r.rule_id != copy.rule_id)]
                if replaced != own:
                    await self._store.replace_kind(txn, user_id, kind, replaced)
                    changed = True
            if not changed:
                return False
            stream_position = await self._publish(txn, user_id)
        self._after_commit(user_id, stream_position)
        return True

    async def _publish(self, txn: Connection, user_id: str) -> int:
        """Writes the ``m.push_rules`` account data; returns its stream position."""
        stored = (await self._store.get_rules(txn, [user_id]))[user_id]
        content = {GLOBAL_SCOPE: _build(user_id, stored).to_json()}
        return await self._account_data.put(txn, user_id, None, "m.push_rules", content)

    def _after_commit(self, user_id: str, position: int) -> None:
        # After the commit, so a concurrent reader can't cache the old rules again.
        self._compiled.pop(user_id, None)
        self._changed.add(user_id)
        if self._own_rules is not None:
            self._own_rules.add(user_id)
        self.generation += 1
        if self._notifier is not None:
            self._notifier.on_account_data(user_id, position)


def _is_about_room(rule: PushRule, room_id: str) -> bool:
    if rule.kind == ROOM:
        return rule.rule_id == room_id
    return any(
        c.get("key") == "room_id" and c.get("pattern") == room_id for c in rule.conditions or ()
    )


def _copy_to_room(rule: PushRule, room_id: str) -> PushRule:
    conditions = rule.conditions
    if conditions is not None:
        conditions = tuple(
            {**c, "pattern": room_id} if c.get("key") == "room_id" else c for c in conditions
        )
    return dataclasses.replace(rule, rule_id=room_id, conditions=conditions, enabled=True)


def _build(user_id: str, stored: UserRules) -> Ruleset:
    return build_ruleset(user_id, stored.rules, stored.defaults)
