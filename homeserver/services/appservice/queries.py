"""Asking application services about ids and third-party networks.

- ``query_user``: ``GET /_matrix/app/v1/users/{userId}`` to each appservice
  whose users namespace holds the (unknown, local) user; a 200 means the
  appservice has created it, so the caller looks again.
- ``query_alias``: ``GET /_matrix/app/v1/rooms/{roomAlias}`` likewise for an
  unknown local alias in an aliases namespace.
- ``thirdparty_*``: the ``/_matrix/app/v1/thirdparty/*`` lookups forwarded
  to the appservices that registered the protocol; malformed answers are
  dropped (logged), never passed on.

Exclusive namespaces are asked first. An appservice that is down or answers
garbage counts as "no".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from homeserver.services.appservice.client import AppserviceHttp
from homeserver.services.appservice.namespaces import AppService, Namespace

logger = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 10.0

JsonDict = dict[str, Any]


class AppserviceQueries:
    def __init__(self, http: AppserviceHttp, appservices: Sequence[AppService]) -> None:
        self._http = http
        self._appservices = [a for a in appservices if a.registration.url is not None]
        self.timeout_s = QUERY_TIMEOUT_S

    def _candidates(self, value: str, namespace_of: str) -> list[AppService]:
        def ns(a: AppService) -> Namespace:
            ns_value: Namespace = getattr(a, namespace_of)
            return ns_value

        matching = [a for a in self._appservices if ns(a).matches(value)]
        return sorted(matching, key=lambda a: not ns(a).matches_exclusive(value))

    async def _get(
        self, svc: AppService, path: str, params: dict[str, str] | None = None
    ) -> tuple[int, Any] | None:
        try:
            return await self._http.get_json(svc, path, params, self.timeout_s)
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            logger.warning("appservice %s: query %s failed: %s", svc.id, path, e)
            return None

    async def query_user(self, user_id: str) -> bool:
        """Whether an appservice says it has created ``user_id`` now."""
        for svc in self._candidates(user_id, "users"):
            answer = await self._get(svc, "/_matrix/app/v1/users/" + quote(user_id, safe=""))
            if answer is not None and answer[0] == 200:
                return True
        return False

    async def query_alias(self, room_alias: str) -> bool:
        """Whether an appservice says it has created ``room_alias`` now."""
        for svc in self._candidates(room_alias, "aliases"):
            answer = await self._get(svc, "/_matrix/app/v1/rooms/" + quote(room_alias, safe=""))
            if answer is not None and answer[0] == 200:
                return True
        return False

    # --- third-party networks ----------------------------------------------------

    def protocols(self) -> set[str]:
        """The protocols the appservices registered."""
        return {p for a in self._appservices for p in a.protocols}

    async def thirdparty_protocol(self, protocol: str) -> JsonDict | None:
        """The protocol's metadata from the first appservice that answers an object."""
        for svc in self._appservices:
            if protocol not in svc.protocols:
                continue
            answer = await self._get(
                svc, "/_matrix/app/v1/thirdparty/protocol/" + quote(protocol, safe="")
            )
            if answer is not None and answer[0] == 200 and isinstance(answer[1], dict):
                return answer[1]
        return None

    async def thirdparty_lookup(
        self, kind: str, protocol: str | None, params: dict[str, str]
    ) -> list[JsonDict]:
        """``kind`` is ``user`` or ``location``; ``protocol`` None for the
        reverse lookups (``/thirdparty/user?userid=``, ``/location?alias=``).

        Returns:
            The objects of every answering appservice, concatenated.
        """
        path = f"/_matrix/app/v1/thirdparty/{kind}"
        if protocol is not None:
            path += "/" + quote(protocol, safe="")
        out: list[JsonDict] = []
        for svc in self._appservices:
            if protocol is not None and protocol not in svc.protocols:
                continue
            answer = await self._get(svc, path, params)
            if answer is None or answer[0] != 200 or not isinstance(answer[1], list):
                continue
            out.extend(item for item in answer[1] if isinstance(item, dict))
        return out
