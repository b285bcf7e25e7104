"""A small asyncio framework for bridges and bots that talk to any homeserver
through the spec's HTTP APIs (Client-Server and Application Service).

Layers, bottom up:

- ``transport.py``: the AS HTTP server. ``PUT /_matrix/app/v1/transactions/{txnId}``,
  ``GET /_matrix/app/v1/users/{userId}``, ``GET /_matrix/app/v1/rooms/{roomAlias}``,
  ``POST /_matrix/app/v1/ping``. Checks the ``hs_token`` (missing: 401, wrong: 403)
  and drops transactions it has already handled, using the persistent state store,
  so a redelivery after a restart is not handled twice.
- ``client.py``: a typed Client-Server client authenticated with the ``as_token``;
  ``as_user()`` masquerades as a namespace user (``?user_id=``), ``ts`` sets the
  origin timestamp of sent events.
- ``intent.py``: one user's view (the bot or a ghost), with explicit
  ``ensure_registered()``/``ensure_joined()`` that remember what they did.
- ``state_store.py``: handled transactions, registered users and memberships,
  over ``homeserver.storage.db`` (SQLite or PostgreSQL) with its own ``schema/``.
- ``commands.py``: a ``!prefix verb args`` command router.
- ``bridge.py``: the ``Bridge`` base class: event dispatch, background tasks and
  the lifecycle as aiohttp ``cleanup_ctx`` (config → db → HTTP session → bot).
- ``registration.py`` and ``config.py``: the registration YAML and the pydantic config.
- ``cli.py``: ``python3 -m appservices.<name> --config X [generate-registration]``.

A bridge is a package that exposes ``create_bridge(config) -> Bridge`` and is
listed under the entry-point group ``homeserver.appservices``. This package may
import only ``homeserver.core`` and ``homeserver.storage.db`` from the server.
"""
