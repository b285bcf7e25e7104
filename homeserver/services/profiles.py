"""Profiles: displayname, avatar_url and extended profile fields (spec v1.16).

A local user's profile row is created in the registration transaction
(``on_user_registered``); a user id without a row is unknown here once the
``user_resolvers`` (application services, which may register the user on
demand) have said no. Profiles of remote users need a federation query,
which is not wired yet: they read as not found.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from homeserver.config.model import Config
from homeserver.core.canonical_json import encode_canonical_json
from homeserver.core.errors import (
    BadJson,
    CanonicalJsonError,
    Codes,
    Forbidden,
    InvalidParam,
    MatrixError,
    NotFound,
)
from homeserver.services.requester import Requester
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.profiles import Profile, ProfileStore

#: Longest displayname accepted, in characters (Synapse's limit).
MAX_DISPLAYNAME_LEN = 256
#: Longest avatar_url accepted, in characters.
MAX_AVATAR_URL_LEN = 1000
#: Spec: the whole profile MUST be under 64 KiB.
MAX_PROFILE_BYTES = 64 * 1024
#: Spec: a profile key is at most 255 bytes.
MAX_KEY_BYTES = 255

# The keyName grammar of PUT /profile/{userId}/{keyName}: the three known
# keys or a Common Namespaced Identifier.
_KEY_RE = re.compile(r"avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


class ProfileTooLarge(MatrixError):
    """M_PROFILE_TOO_LARGE: the profile would exceed 64 KiB."""

    def to_json(self) -> dict[str, Any]:
        return {"errcode": "M_PROFILE_TOO_LARGE", "error": self.message}


class KeyTooLarge(MatrixError):
    """M_KEY_TOO_LARGE: a profile key longer than 255 bytes."""

    def to_json(self) -> dict[str, Any]:
        return {"errcode": "M_KEY_TOO_LARGE", "error": self.message}


def check_key_name(key: str) -> None:
    """Checks a profile key name.

    Raises:
        KeyTooLarge: longer than 255 bytes.
        InvalidParam: not a known key nor a namespaced identifier.
    """
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise KeyTooLarge("Profile key is longer than 255 bytes", code=Codes.BAD_JSON)
    if _KEY_RE.fullmatch(key) is None:
        raise InvalidParam(
            "Profile key must be displayname, avatar_url, m.tz or a namespaced identifier"
        )


def _check_value(key: str, value: Any) -> Any:
    """Validates the value of ``key`` and returns what to store (None clears)."""
    if key == "displayname":
        if value is None or value == "":
            return None
        # NUL: PostgreSQL TEXT cannot hold it, and no name needs it.
        if not isinstance(value, str) or "\x00" in value:
            raise BadJson("displayname must be a string without NUL")
        if len(value) > MAX_DISPLAYNAME_LEN:
            raise BadJson(f"displayname is longer than {MAX_DISPLAYNAME_LEN} characters")
        return value
    if key == "avatar_url":
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not value.startswith("mxc://") or "\x00" in value:
            raise BadJson("avatar_url must be an mxc:// URI")
        if len(value) > MAX_AVATAR_URL_LEN:
            raise BadJson(f"avatar_url is longer than {MAX_AVATAR_URL_LEN} characters")
        return value
    if key == "m.tz" and not isinstance(value, str):
        raise BadJson("m.tz must be a string")
    return value


#: Called with the user id after a displayname or avatar_url change commits.
ProfileHook = Callable[[str], Awaitable[None]]


class ProfileService:
    """Reads and changes user profiles."""

    def __init__(self, db: Database, config: Config, store: ProfileStore | None = None) -> None:
        self._db = db
        self._server_name = config.server_name
        self._store = store or ProfileStore()
        self.on_profile_changed: list[ProfileHook] = []
        #: asked about unknown local users (application services); True: look again
        self.user_resolvers: list[Callable[[str], Awaitable[bool]]] = []

    async def on_user_registered(
        self, txn: Connection, user_id: str, displayname: str | None
    ) -> None:
        """Creates the new user's profile in the registration transaction.

        Args:
            txn: the registration's write transaction.
            user_id: the new user.
            displayname: the initial displayname (usually the localpart), or None.
        """
        if displayname is not None:
            displayname = displayname[:MAX_DISPLAYNAME_LEN] or None
        await self._store.create(txn, user_id, displayname)

    async def get_profile(self, user_id: str) -> dict[str, Any]:
        """Every field of a user's profile that is set.

        Raises:
            NotFound: unknown (or remote) user.
        """
        return (await self._load(user_id)).as_json()

    async def get_field(self, user_id: str, key: str) -> Any:
        """One profile field's value.

        Raises:
            NotFound: unknown user, or the field is not set.
        """
        profile = (await self._load(user_id)).as_json()
        if key not in profile:
            raise NotFound("Profile field not set")
        return profile[key]

    async def set_field(self, requester: Requester, user_id: str, key: str, value: Any) -> None:
        """Sets one profile field of the requester's own profile.

        ``displayname``/``avatar_url`` set to ``""`` or null are cleared. Other
        keys store any JSON value, null included (the spec asks servers not to
        treat null as deletion).

        Raises:
            Forbidden: ``user_id`` is not the requester.
            InvalidParam / KeyTooLarge: bad key name.
            BadJson: bad value.
            ProfileTooLarge: the profile would exceed 64 KiB.
        """
        self._check_owner(requester, user_id)
        check_key_name(key)
        value = _check_value(key, value)
        async with self._db.write() as txn:
            current = await self._store.get(txn, user_id) or Profile(user_id=user_id)
            updated = _with_field(current, key, value)
            _check_size(updated)
            await self._store.put(txn, updated)
        if key in ("displayname", "avatar_url"):
            await self._profile_changed(user_id)

    async def delete_field(self, requester: Requester, user_id: str, key: str) -> None:
        """Removes one field from the requester's own profile (absent is fine).

        Raises:
            Forbidden: ``user_id`` is not the requester.
            InvalidParam / KeyTooLarge: bad key name.
        """
        self._check_owner(requester, user_id)
        check_key_name(key)
        async with self._db.write() as txn:
            current = await self._store.get(txn, user_id)
            if current is None:
                return
            if key in ("displayname", "avatar_url"):
                updated = _with_field(current, key, None)
            else:
                extra = {k: v for k, v in current.extra_fields.items() if k != key}
                updated = Profile(user_id, current.displayname, current.avatar_url, extra)
            await self._store.put(txn, updated)
        if key in ("displayname", "avatar_url"):
            await self._profile_changed(user_id)

    async def _profile_changed(self, user_id: str) -> None:
        for hook in self.on_profile_changed:
            await hook(user_id)

    def _check_owner(self, requester: Requester, user_id: str) -> None:
        if requester.user_id != user_id:
            raise Forbidden("You cannot change another user's profile")

    async def _load(self, user_id: str) -> Profile:
        _, _, domain = user_id.partition(":")
        if not user_id.startswith("@") or domain != self._server_name:
            raise NotFound("Profile not found")
        async with self._db.read() as conn:
            profile = await self._store.get(conn, user_id)
        if profile is None:
            for resolver in self.user_resolvers:
                if await resolver(user_id):
                    async with self._db.read() as conn:
                        profile = await self._store.get(conn, user_id)
                    break
        if profile is None:
            raise NotFound("Profile not found")
        return profile


def _with_field(profile: Profile, key: str, value: Any) -> Profile:
    if key == "displayname":
        return Profile(profile.user_id, value, profile.avatar_url, profile.extra_fields)
    if key == "avatar_url":
        return Profile(profile.user_id, profile.displayname, value, profile.extra_fields)
    extra = dict(profile.extra_fields)
    extra[key] = value
    return Profile(profile.user_id, profile.displayname, profile.avatar_url, extra)


def _check_size(profile: Profile) -> None:
    try:
        size = len(encode_canonical_json(profile.as_json()))
    except CanonicalJsonError as e:
        raise BadJson("Profile value is not valid JSON") from e
    if size >= MAX_PROFILE_BYTES:
        raise ProfileTooLarge("The profile would exceed 64 KiB", code=Codes.BAD_JSON)
