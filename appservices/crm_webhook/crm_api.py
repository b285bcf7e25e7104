"""The CRM's REST API, as far as the bridge uses it.

- ``GET {api_url}/records/{id}``: one record (``{"id", "type", "title", "status", ...}``).
- ``POST {api_url}/records/{id}/notes`` with ``{"text", "author"}``: ``{"id": note id}``.

Requests carry ``Authorization: Bearer {api_token}``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

JsonDict = dict[str, Any]


class CrmError(Exception):
    """The CRM refused or could not be reached; the message is safe to show."""


class CrmApi:
    def __init__(self, session: aiohttp.ClientSession, api_url: str, api_token: str) -> None:
        self._session = session
        self._base = api_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_token}"}

    async def _call(self, method: str, path: str, body: JsonDict | None = None) -> JsonDict:
        try:
            async with self._session.request(
                method,
                self._base + path,
                json=body,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=15),
            ) as resp:
                data = await resp.json(content_type=None)
                if resp.status == 404:
                    raise CrmError("no such record")
                if resp.status >= 300 or not isinstance(data, dict):
                    raise CrmError(f"the CRM answered HTTP {resp.status}")
                return data
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise CrmError(f"the CRM could not be reached ({type(e).__name__})") from e

    async def get_record(self, record_id: str) -> JsonDict:
        return await self._call("GET", f"/records/{quote(record_id, safe='')}")

    async def add_note(self, record_id: str, text: str, author: str) -> str:
        """Adds a note to a record; returns the note's id."""
        data = await self._call(
            "POST", f"/records/{quote(record_id, safe='')}/notes", {"text": text, "author": author}
        )
        return str(data.get("id", ""))
