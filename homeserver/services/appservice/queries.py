"""Asking application services about ids and third-party networks.

- ``query_user``: ``GET /_matrix/app/v1/users/{userId}`` to each appservice
  whose users namespace holds the (unknown, local) user; a 200 means the
  appservice has created it, so the caller looks again.
- ``query_alias``: ``GET /_matrix/app/v1/rooms/{roomAlias}`` likewise for an
  unknown local alias in an aliases namespace.
- ``thirdparty_*``: the ``/_matrix/app/v1/thirdparty/*`` lookups forwarded
  to the appservices that registered the protocol; malformed answers are
  dropped (logged), never passed on.

Exclusive namespaces are asked first. An appservice that is down, slow
(``timeout_s``) or answers garbage counts as "no"; nothing an appservice
answers turns into an error for the client. Only ids on this server are
asked about: an appservice can only create local users and aliases.

Concurrent queries for the same id share one request, so a burst of
lookups (or an appservice that looks the id up while answering) costs the
appservice one query, not one per lookup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from homeserver.core.ids import server_name_of
from homeserver.services.appservice.client import AppserviceHttp, cancelling
from homeserver.services.appservice.namespaces import AppService, Namespace

logger = logging.getLogger(__name__)

#: Longest one query waits for an appservice.
QUERY_TIMEOUT_S = 10.0

JsonDict = dict[str, Any]

#: Required string fields of each object a third-party lookup returns.
_LOOKUP_KEYS = {"location": ("alias", "protocol"), "user": ("userid", "protocol")}


class AppserviceQueries:
    def __init__(
        self, http: AppserviceHttp, appservices: Sequence[AppService], server_name: str
    ) -> None:
        self._http = http
        self._appservices = [a for a in appservices if a.registration.url is not None]
        self._server_name = server_name
        self.timeout_s = QUERY_TIMEOUT_S
        #: (kind, id) → the answer of the query in flight
        self._in_flight: dict[tuple[str, str], asyncio.Future[bool]] = {}

    def _candidates(self, value: str, namespace_of: str) -> list[AppService]:
        def ns(a: AppService) -> Namespace:
            ns_value: Namespace = getattr(a, namespace_of)
            return ns_value

        matching = [a for a in self._appservices if ns(a).matches(value)]
        return sorted(matching, key=lambda a: not ns(a).matches_exclusive(value))

    async def _get(
        self, svc: AppService, path: str, params: dict[str, str] | None = None
    ) -> tuple[int, Any] | None:
        """The appservice's status and JSON body, or None when it could not
        be asked (down, timed out, refused the connection)."""
        try:
            return await self._http.get_json(svc, path, params, self.timeout_s)
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            if cancelling():
                raise asyncio.CancelledError from e
            logger.warning("appservice %s: query %s failed: %r", svc.id, path, e)
            return None

    async def _shared(self, kind: str, key: str, ask: Callable[[], Awaitable[bool]]) -> bool:
        """Runs ``ask`` once for concurrent callers with the same ``(kind, key)``."""
        running = self._in_flight.get((kind, key))
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._in_flight[(kind, key)] = future
        answer = False
        try:
            answer = await ask()
            return answer
        finally:
            del self._in_flight[(kind, key)]
            future.set_result(answer)

    async def _ask_each(self, candidates: list[AppService], path: str) -> bool:
        for svc in candidates:
            answer = await self._get(svc, path)
            if answer is None:
                continue
            status, body = answer
            if status == 200:
                if not isinstance(body, dict):
                    # The spec's answer is ``{}``; the id may exist all the same,
                    # so the caller still looks again.
                    logger.warning("appservice %s: %s answered 200 without an object", svc.id, path)
                return True
            if status != 404:
                logger.warning("appservice %s: %s answered HTTP %d", svc.id, path, status)
        return False

    def _is_local(self, value: str) -> bool:
        try:
            return server_name_of(value) == self._server_name
        except ValueError:
            return False

    async def query_user(self, user_id: str) -> bool:
        """Whether an appservice says it has created ``user_id`` now.

        Args:
            user_id: a local user id this server does not know.

        Returns:
            True when an appservice whose users namespace holds ``user_id``
            answered 200 (it should have registered the user): look again.
        """
        candidates = self._candidates(user_id, "users") if self._is_local(user_id) else []
        if not candidates:
            return False
        path = "/_matrix/app/v1/users/" + quote(user_id, safe="")
        return await self._shared("user", user_id, lambda: self._ask_each(candidates, path))

    async def query_alias(self, room_alias: str) -> bool:
        """Whether an appservice says it has created ``room_alias`` now.

        Args:
            room_alias: a local alias this server does not know.

        Returns:
            True when an appservice whose aliases namespace holds the alias
            answered 200 (it should have created the room and alias): look again.
        """
        candidates = self._candidates(room_alias, "aliases") if self._is_local(room_alias) else []
        if not candidates:
            return False
        path = "/_matrix/app/v1/rooms/" + quote(room_alias, safe="")
        return await self._shared("alias", room_alias, lambda: self._ask_each(candidates, path))

    # --- third-party networks ----------------------------------------------------

    def protocols(self) -> set[str]:
        """The protocols the appservices registered."""
        return {p for a in self._appservices for p in a.protocols}

    async def thirdparty_protocol(self, protocol: str) -> JsonDict | None:
        """The protocol's metadata, merged over the appservices that serve it.

        The first object answered is the base; the ``instances`` of every
        appservice are concatenated, each given the ``instance_id``
        ``{appservice id}|{network_id}`` (unique on this server, as the
        client-server API asks of the homeserver).

        Returns:
            The description, or None when no appservice answered an object.
        """
        merged: JsonDict | None = None
        instances: list[JsonDict] = []
        for svc in self._appservices:
            if protocol not in svc.protocols:
                continue
            answer = await self._get(
                svc, "/_matrix/app/v1/thirdparty/protocol/" + quote(protocol, safe="")
            )
            if answer is None or answer[0] != 200 or not isinstance(answer[1], dict):
                if answer is not None:
                    logger.warning("appservice %s: bad answer for protocol %s", svc.id, protocol)
                continue
            if merged is None:
                merged = dict(answer[1])
            found = answer[1].get("instances")
            for instance in found if isinstance(found, list) else []:
                if isinstance(instance, dict) and isinstance(instance.get("network_id"), str):
                    instances.append(
                        {**instance, "instance_id": f"{svc.id}|{instance['network_id']}"}
                    )
        if merged is not None:
            merged["instances"] = instances
        return merged

    async def thirdparty_lookup(
        self, kind: str, protocol: str, params: dict[str, str], *, reverse: bool = False
    ) -> list[JsonDict]:
        """Asks the appservices serving ``protocol`` for third-party objects.

        Args:
            kind: ``user`` or ``location``.
            protocol: the protocol asked about.
            params: the search fields (``reverse``: ``userid`` or ``alias``).
            reverse: ``GET /thirdparty/{kind}?…`` (no protocol in the path);
                only the results of ``protocol`` are kept, so a lookup over
                every protocol lists each result once.

        Returns:
            The well-formed objects (``alias``/``userid``, ``protocol``,
            ``fields``) of every answering appservice, concatenated.
        """
        path = f"/_matrix/app/v1/thirdparty/{kind}"
        if not reverse:
            path += "/" + quote(protocol, safe="")
        out: list[JsonDict] = []
        for svc in self._appservices:
            if protocol not in svc.protocols:
                continue
            answer = await self._get(svc, path, params)
            if answer is None or answer[0] == 404:
                continue
            if answer[0] != 200 or not isinstance(answer[1], list):
                logger.warning("appservice %s: bad answer (HTTP %d) to %s", svc.id, answer[0], path)
                continue
            good = [item for item in answer[1] if _well_formed(kind, item)]
            if len(good) != len(answer[1]):
                logger.warning(
                    "appservice %s: dropped %d malformed results of %s",
                    svc.id,
                    len(answer[1]) - len(good),
                    path,
                )
            out.extend(i for i in good if not reverse or i["protocol"] == protocol)
        return out


def _well_formed(kind: str, item: Any) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("fields"), dict):
        return False
    return all(isinstance(item.get(k), str) for k in _LOOKUP_KEYS[kind])
