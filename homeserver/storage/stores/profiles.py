"""The ``profiles`` table: one row per local user.

``displayname`` and ``avatar_url`` are columns; every other profile field
(extended profiles, spec v1.16) is kept in ``extra_fields`` as a canonical
JSON object. A missing row means "no such local user".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.storage.db import Connection


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: str
    displayname: str | None = None
    avatar_url: str | None = None
    #: Extended profile fields other than displayname and avatar_url.
    extra_fields: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The profile as the client API returns it: only the fields that are set."""
        out: dict[str, Any] = dict(self.extra_fields)
        if self.displayname is not None:
            out["displayname"] = self.displayname
        if self.avatar_url is not None:
            out["avatar_url"] = self.avatar_url
        return out

    def member_content(self) -> dict[str, Any]:
        """``displayname`` and ``avatar_url`` (when set) for a member event's content."""
        out: dict[str, Any] = {}
        if self.displayname is not None:
            out["displayname"] = self.displayname
        if self.avatar_url is not None:
            out["avatar_url"] = self.avatar_url
        return out


class ProfileStore:
    """Reads and writes ``profiles``. Every method takes the connection first."""

    async def get(self, conn: Connection, user_id: str) -> Profile | None:
        """The user's profile, or None when the user has no profile row."""
        row = await conn.fetchrow(
            "SELECT displayname, avatar_url, extra_fields FROM profiles WHERE user_id = $1",
            user_id,
        )
        if row is None:
            return None
        return Profile(
            user_id=user_id,
            displayname=row["displayname"],
            avatar_url=row["avatar_url"],
            extra_fields=json.loads(row["extra_fields"]),
        )

    async def create(self, txn: Connection, user_id: str, displayname: str | None) -> None:
        """Creates the profile row of a new user; a row that exists is left alone."""
        await txn.execute(
            "INSERT INTO profiles (user_id, displayname) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO NOTHING",
            user_id,
            displayname,
        )

    async def put(self, txn: Connection, profile: Profile) -> None:
        """Writes the whole profile, creating the row when needed."""
        await txn.execute(
            "INSERT INTO profiles (user_id, displayname, avatar_url, extra_fields) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET "
            "displayname = EXCLUDED.displayname, avatar_url = EXCLUDED.avatar_url, "
            "extra_fields = EXCLUDED.extra_fields",
            profile.user_id,
            profile.displayname,
            profile.avatar_url,
            encode_canonical_json(dict(profile.extra_fields)).decode("utf-8"),
        )

    async def delete(self, txn: Connection, user_id: str) -> None:
        """Removes the user's profile row (account deactivation)."""
        await txn.execute("DELETE FROM profiles WHERE user_id = $1", user_id)
