"""Push rules: the rule model, the server-default rules and the evaluator.

Pure: values in, values out. The service (``homeserver.services.push``)
loads a user's rules, builds the effective ruleset with
``ruleset.build_ruleset`` (user rules merged with ``default_rules``),
compiles it once with ``evaluator.compile_ruleset`` and then evaluates every
new event against the compiled form with ``evaluator.evaluate``.

- ``rules``: ``PushRule`` and the rule kinds, JSON parsing and validation.
- ``default_rules``: the spec's predefined rules for one user, in order.
- ``ruleset``: the effective ruleset (priority order, user overrides of
  server-default rules) and its client JSON.
- ``evaluator``: event flattening, condition matching, actions.
"""
