"""Room tags: the ``m.tag`` room account data, edited one tag at a time.

A room's tags live in the user's room account data of type ``m.tag`` as
``{"tags": {tag: {"order": n}}}``, so /sync delivers every change in the
room's ``account_data`` section. Edits are read-modify-write under a
per-user lock, so two concurrent tag edits never lose one another.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from homeserver.core.errors import BadJson, Forbidden, InvalidParam, NotFound
from homeserver.services.account_data import AccountDataService
from homeserver.services.requester import Requester

TAG_TYPE = "m.tag"
#: Longest tag accepted, in UTF-8 bytes (Synapse's limit too).
MAX_TAG_BYTES = 255

JsonDict = dict[str, Any]


def check_tag_content(content: JsonDict) -> JsonDict:
    """The tag's content with ``order`` checked (a number from 0 to 1).

    Raises:
        BadJson: ``order`` is not a number, or lies outside 0..1.
    """
    order = content.get("order")
    if order is None:
        return content
    if isinstance(order, bool) or not isinstance(order, int | float):
        raise BadJson("'order' must be a number")
    if not math.isfinite(order) or not 0 <= order <= 1:
        raise BadJson("'order' must be between 0 and 1")
    return content


class TagService:
    def __init__(self, account_data: AccountDataService) -> None:
        self._account_data = account_data
        self._locks: dict[str, asyncio.Lock] = {}

    async def get_tags(self, requester: Requester, user_id: str, room_id: str) -> JsonDict:
        """The room's tags (``{}`` when none).

        Raises:
            Forbidden: ``user_id`` is not the requester.
        """
        _check_owner(requester, user_id)
        return await self._tags(user_id, room_id)

    async def set_tag(
        self, requester: Requester, user_id: str, room_id: str, tag: str, content: JsonDict
    ) -> None:
        """Adds or replaces one tag.

        Raises:
            Forbidden: ``user_id`` is not the requester.
            BadJson: a bad ``order``.
            InvalidParam: an empty or over-long tag name.
        """
        _check_owner(requester, user_id)
        _check_tag(tag)
        check_tag_content(content)
        async with self._lock(user_id):
            tags = await self._tags(user_id, room_id)
            tags[tag] = content
            await self._account_data.put_internal(user_id, room_id, TAG_TYPE, {"tags": tags})

    async def delete_tag(self, requester: Requester, user_id: str, room_id: str, tag: str) -> None:
        """Removes one tag; removing a tag that is not there is not an error.

        Raises:
            Forbidden: ``user_id`` is not the requester.
        """
        _check_owner(requester, user_id)
        async with self._lock(user_id):
            tags = await self._tags(user_id, room_id)
            if tag not in tags:
                return
            del tags[tag]
            await self._account_data.put_internal(user_id, room_id, TAG_TYPE, {"tags": tags})

    async def copy_tags(self, user_id: str, old_room_id: str, new_room_id: str) -> None:
        """Adds the old room's tags to the new room (a room upgrade, as
        Synapse does); a tag the new room already has takes the old value."""
        async with self._lock(user_id):
            old = await self._tags(user_id, old_room_id)
            if not old:
                return
            tags = await self._tags(user_id, new_room_id)
            merged = {**tags, **old}
            if merged != tags:
                await self._account_data.put_internal(
                    user_id, new_room_id, TAG_TYPE, {"tags": merged}
                )

    async def _tags(self, user_id: str, room_id: str) -> JsonDict:
        try:
            content = await self._account_data.get(
                Requester(user_id=user_id, device_id=None), user_id, room_id, TAG_TYPE
            )
        except NotFound:
            return {}
        tags = content.get("tags")
        if not isinstance(tags, dict):
            return {}
        return {k: v for k, v in tags.items() if isinstance(v, dict)}

    def _lock(self, user_id: str) -> asyncio.Lock:
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        if len(self._locks) > 10_000:
            # Drop idle locks so the map stays small.
            for key in [k for k, v in self._locks.items() if not v.locked() and k != user_id]:
                del self._locks[key]
        return lock


def _check_owner(requester: Requester, user_id: str) -> None:
    if requester.user_id != user_id:
        raise Forbidden("Cannot access tags for other users")


def _check_tag(tag: str) -> None:
    try:
        size = len(tag.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise InvalidParam("Tag is not valid UTF-8") from e
    if not tag or size > MAX_TAG_BYTES or "\x00" in tag:
        raise InvalidParam(f"Tag must be 1 to {MAX_TAG_BYTES} bytes")
