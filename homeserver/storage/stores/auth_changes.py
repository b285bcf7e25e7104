"""Telling in-process caches that authentication facts changed.

The token service caches what an access token resolves to: the token row and
the account flags read with it (admin, guest, deactivated, locked, suspended,
shadow-banned). Every store method that deletes access tokens or changes
those flags calls :func:`note_auth_change` inside its transaction. The epoch
moves at once and again after the commit, so a cache entry read while such a
transaction was open is never trusted after it commits.

One counter for the whole process (not per database): a change only costs
other databases' caches a refill, and every store instance reaches it
without wiring.
"""

from __future__ import annotations

from homeserver.storage.db import Connection


class AuthEpoch:
    """A counter that moves whenever a token or an account flag changes."""

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        self.value += 1


AUTH_EPOCH = AuthEpoch()


def note_auth_change(txn: Connection) -> None:
    """Marks cached token lookups stale, now and once ``txn`` commits."""
    AUTH_EPOCH.bump()
    txn.after_commit(AUTH_EPOCH.bump)
