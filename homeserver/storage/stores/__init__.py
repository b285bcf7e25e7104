"""Store classes, one per table group.

A store owns named tables and holds no state: every method takes the
connection (``db.read()``) or the open write transaction (``db.write()``) as
its first argument, so several stores can take part in one atomic write.
SQL is written once, with ``$1`` placeholders, for SQLite and PostgreSQL.

- ``accounts``: ``users`` (local accounts, their flags and password hashes).
- ``devices``: ``devices``.
- ``tokens``: ``access_tokens``, ``refresh_tokens``, ``login_tokens``.
- ``uia``: ``ui_auth_sessions`` and the stages they completed.
- ``registration_tokens``: ``registration_tokens`` and the shared-secret
  registration nonces.
- ``profiles``, ``account_data``: profiles and per-user account data.
"""
