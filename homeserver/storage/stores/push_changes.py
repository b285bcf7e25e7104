"""Telling the unread-count cache that what a count depends on changed.

``PushCounts`` keeps each user's unread counts per room up to a stream
position, and later adds only the notifications after it. That is right as
long as nothing below the position changed: the user's read positions
(receipts, the read position a sent event moves), their membership spans
(``push_room_members``), and the notification rows themselves. So:

- every store method that writes the user's receipts, read positions or
  membership spans calls :func:`note_read_change`;
- every one that deletes notification rows or events (purges, retention)
  calls :func:`note_push_rows_deleted`.

Like ``auth_changes``, each version moves at once and again after the commit,
so a count read while such a transaction was open is never trusted after it
commits. One set of versions for the whole process: every store instance
reaches it without wiring.
"""

from __future__ import annotations

from homeserver.storage.db import Connection


class ReadVersions:
    """A version per user, and one for everybody."""

    def __init__(self) -> None:
        #: moves when notification rows or events are deleted
        self.epoch = 0
        self._users: dict[str, int] = {}

    def of(self, user_id: str) -> tuple[int, int]:
        """``(everybody's version, the user's version)``."""
        return self.epoch, self._users.get(user_id, 0)

    def bump_user(self, user_id: str) -> None:
        self._users[user_id] = self._users.get(user_id, 0) + 1

    def bump_all(self) -> None:
        self.epoch += 1


READ_VERSIONS = ReadVersions()


def note_read_change(txn: Connection, user_id: str) -> None:
    """Marks the user's cached counts stale, now and once ``txn`` commits."""
    READ_VERSIONS.bump_user(user_id)
    txn.after_commit(lambda: READ_VERSIONS.bump_user(user_id))


def note_push_rows_deleted(txn: Connection) -> None:
    """Marks every cached count stale, now and once ``txn`` commits."""
    READ_VERSIONS.bump_all()
    txn.after_commit(READ_VERSIONS.bump_all)
