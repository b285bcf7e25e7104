"""The homeserver's HTTP client towards application services.

One ``aiohttp.ClientSession`` shared by the transaction sender, pings and
queries; every request carries the appservice's ``hs_token`` as a bearer
token (spec v1.4+; the legacy ``access_token`` query parameter is not sent).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from homeserver.services.appservice.namespaces import AppService

#: Largest answer body read from an appservice query; a longer one counts as not JSON.
MAX_ANSWER_BYTES = 4 * 1024 * 1024


def cancelling() -> bool:
    """Whether the current task has been asked to stop.

    An HTTP client call cancelled at the wrong moment can surface as a
    connection error instead of ``CancelledError``; callers that retry on
    errors check this so a stop request is never lost.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class AppserviceHttp:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @staticmethod
    def headers(svc: AppService) -> dict[str, str]:
        return {"Authorization": f"Bearer {svc.registration.hs_token}"}

    async def get_json(
        self, svc: AppService, path: str, params: dict[str, str] | None, timeout_s: float
    ) -> tuple[int, Any]:
        """``GET {url}{path}``: the status and the JSON body (None when not
        JSON, or longer than ``MAX_ANSWER_BYTES``).

        Raises:
            aiohttp.ClientError, TimeoutError, OSError: the request failed.
        """
        assert svc.registration.url is not None
        async with self.session.get(
            svc.registration.url + path,
            params=params,
            headers=self.headers(svc),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            raw = await resp.content.read(MAX_ANSWER_BYTES + 1)
            if len(raw) > MAX_ANSWER_BYTES:
                return resp.status, None
            try:
                body = json.loads(raw, parse_constant=_refuse_constant)
            except (ValueError, RecursionError):
                body = None
            return resp.status, body


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; they could not be passed on to clients.
    raise ValueError(f"{name} is not valid JSON")
