"""The homeserver's HTTP client towards application services.

One ``aiohttp.ClientSession`` shared by the transaction sender, pings and
queries; every request carries the appservice's ``hs_token`` as a bearer
token (spec v1.4+; the legacy ``access_token`` query parameter is not sent).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from homeserver.services.appservice.namespaces import AppService


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
        """``GET {url}{path}``: the status and the JSON body (None when not JSON).

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
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
            return resp.status, body
