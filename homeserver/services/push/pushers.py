"""Pushers: ``POST /pushers/set`` and ``GET /pushers``.

- ``kind: null`` deletes the user's pusher with that ``app_id`` and
  ``pushkey``; any other kind creates or updates it.
- Only ``http`` pushers are supported (an ``email`` pusher would need a mail
  transport this server does not have): other kinds are 400 M_INVALID_PARAM.
- ``data.url`` must be an ``http(s)`` URL with the path
  ``/_matrix/push/v1/notify``. The spec asks for HTTPS; plain HTTP is
  accepted so a gateway on a private network (or a test) can be used.
- ``append: false`` (the default) removes pushers with the same ``app_id``
  and ``pushkey`` that belong to other users.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from homeserver.core.errors import BadJson, InvalidParam, MissingParam
from homeserver.services.clock import Clock
from homeserver.services.requester import Requester
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.push import Pusher, PushStore

JsonDict = dict[str, Any]

NOTIFY_PATH = "/_matrix/push/v1/notify"
MAX_APP_ID_CHARS = 64
MAX_PUSHKEY_BYTES = 512
_REQUIRED_FOR_KIND = ("app_display_name", "device_display_name", "lang", "data")


def pusher_json(pusher: Pusher) -> JsonDict:
    """A pusher as ``GET /pushers`` lists it."""
    out: JsonDict = {
        "pushkey": pusher.pushkey,
        "kind": pusher.kind,
        "app_id": pusher.app_id,
        "app_display_name": pusher.app_display_name,
        "device_display_name": pusher.device_display_name,
        "lang": pusher.lang,
        "data": pusher.data,
    }
    if pusher.profile_tag is not None:
        out["profile_tag"] = pusher.profile_tag
    return out


def _string(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        raise MissingParam(f"Missing parameter: {key}")
    if not isinstance(value, str):
        raise BadJson(f"'{key}' must be a string")
    return value


def check_url(url: object) -> str:
    """``data.url`` of an http pusher (see the module docstring)."""
    if not isinstance(url, str):
        raise MissingParam("'data.url' is required for http pushers")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidParam("'data.url' must be an http(s) URL")
    if parts.path != NOTIFY_PATH:
        raise InvalidParam(f"'data.url' must have the path {NOTIFY_PATH}")
    return url


class PusherService:
    """Adds, removes and lists a user's pushers."""

    def __init__(
        self,
        db: Database,
        store: PushStore,
        clock: Clock,
        *,
        rng: Callable[[int], int] = secrets.randbits,
    ) -> None:
        self._db = db
        self._store = store
        self._clock = clock
        self._rng = rng
        #: users with at least one pusher (kept in step by this service)
        self.users_with_pushers: set[str] = set()

    async def load(self) -> None:
        """Reads which users have pushers (startup)."""
        async with self._db.read() as conn:
            self.users_with_pushers = await self._store.users_with_pushers(conn)

    async def get_all(self, requester: Requester) -> list[JsonDict]:
        async with self._db.read() as conn:
            pushers = await self._store.get_pushers(conn, requester.user_id)
        return [pusher_json(p) for p in pushers]

    async def set(self, requester: Requester, body: Mapping[str, Any]) -> None:
        """``POST /pushers/set``.

        Raises:
            MissingParam: a required field is absent (all are named).
            BadJson: a field has the wrong type.
            InvalidParam: unsupported kind, bad url, over-long app_id/pushkey.
        """
        if "kind" not in body:
            raise MissingParam("Missing parameter: kind")
        kind = body["kind"]
        app_id = _string(body, "app_id")
        pushkey = _string(body, "pushkey")
        user_id = requester.user_id
        if kind is None:
            async with self._db.write() as txn:
                await self._store.delete_pusher(txn, user_id, app_id, pushkey)
                remaining = await self._store.get_pushers(txn, user_id)
            if not remaining:
                self.users_with_pushers.discard(user_id)
            return
        if not isinstance(kind, str):
            raise BadJson("'kind' must be a string or null")
        missing = [k for k in _REQUIRED_FOR_KIND if body.get(k) is None]
        if missing:
            raise MissingParam(f"Missing parameters: {', '.join(missing)}")
        if kind != "http":
            raise InvalidParam(f"Unsupported pusher kind: {kind}")
        if len(app_id) > MAX_APP_ID_CHARS:
            raise InvalidParam(f"'app_id' is longer than {MAX_APP_ID_CHARS} characters")
        if len(pushkey.encode("utf-8")) > MAX_PUSHKEY_BYTES:
            raise InvalidParam(f"'pushkey' is longer than {MAX_PUSHKEY_BYTES} bytes")
        data = body["data"]
        if not isinstance(data, dict):
            raise BadJson("'data' must be an object")
        check_url(data.get("url"))
        profile_tag = body.get("profile_tag")
        if profile_tag is not None and not isinstance(profile_tag, str):
            raise BadJson("'profile_tag' must be a string")
        append = body.get("append", False)
        if not isinstance(append, bool):
            raise BadJson("'append' must be a boolean")
        pusher = Pusher(
            id=self._rng(62),
            user_id=user_id,
            kind=kind,
            app_id=app_id,
            pushkey=pushkey,
            pushkey_ts=self._clock.time_ms() // 1000,
            app_display_name=_string(body, "app_display_name"),
            device_display_name=_string(body, "device_display_name"),
            lang=_string(body, "lang"),
            data=data,
            profile_tag=profile_tag,
            access_token_id=requester.token_id,
            device_id=requester.device_id,
        )
        async with self._db.write() as txn:
            if not append:
                await self._store.delete_pusher_of_others(txn, app_id, pushkey, user_id)
            await self._store.upsert_pusher(txn, pusher)
        self.users_with_pushers.add(user_id)
        if not append:
            # Other users may have lost their last pusher; re-read who has any.
            await self.load()

    async def delete_for_device(self, user_id: str, device_id: str) -> None:
        """Removes the pushers a device created (call on logout / device deletion)."""
        async with self._db.write() as txn:
            await self._store.delete_pushers_of_device(txn, user_id, device_id)
            remaining = await self._store.get_pushers(txn, user_id)
        if not remaining:
            self.users_with_pushers.discard(user_id)

    async def on_devices_deleted(
        self, txn: Connection, user_id: str, device_ids: Sequence[str]
    ) -> None:
        """A ``DeviceService`` deletion hook: a deleted device's pushers go with it."""
        for device_id in device_ids:
            await self._store.delete_pushers_of_device(txn, user_id, device_id)

    async def remove_rejected(self, pusher: Pusher, rejected: list[str]) -> None:
        """Deletes the user's pushers of this app whose pushkeys a gateway rejected."""
        async with self._db.write() as txn:
            for pushkey in rejected:
                await self._store.delete_pusher(txn, pusher.user_id, pusher.app_id, pushkey)
            remaining = await self._store.get_pushers(txn, pusher.user_id)
        if not remaining:
            self.users_with_pushers.discard(pusher.user_id)
