"""Storage: everything that speaks SQL.

- ``db/``: the ``Database`` / ``Connection`` protocols and their drivers
  (``sqlite.py``: one writer connection plus readers over WAL; ``postgres.py``:
  an asyncpg pool), ``open.py`` (``open_database(url)``) and ``migrate.py``
  (numbered deltas from ``schema/deltas/``).
- ``stores/``: one class per table group, each method taking the connection
  or write transaction as its first argument so several stores can share one
  atomic write.

SQL is written once, in PostgreSQL's ``$1`` style, and runs on both backends.
Above this package nothing knows SQL.
"""
