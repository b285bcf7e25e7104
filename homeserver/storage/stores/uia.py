"""``ui_auth_sessions`` and ``ui_auth_sessions_credentials``.

A session remembers the request that started it (uri, method, the client's
body without secrets) and which stages it has completed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.storage.db import Connection


@dataclass(frozen=True, slots=True)
class UIASession:
    session_id: str
    created_ts: int
    serverdict: dict[str, Any]
    clientdict: dict[str, Any]
    uri: str
    method: str
    description: str


def _json(value: Any) -> str:
    return encode_canonical_json(value).decode("utf-8")


class UIAStore:
    """Reads and writes user-interactive auth sessions."""

    async def create(
        self,
        txn: Connection,
        session_id: str,
        *,
        created_ts: int,
        clientdict: dict[str, Any],
        uri: str,
        method: str,
        description: str,
    ) -> None:
        await txn.execute(
            "INSERT INTO ui_auth_sessions (session_id, created_ts, serverdict, clientdict, "
            "uri, method, description) VALUES ($1, $2, '{}', $3, $4, $5, $6)",
            session_id,
            created_ts,
            _json(clientdict),
            uri,
            method,
            description,
        )

    async def get(self, conn: Connection, session_id: str) -> UIASession | None:
        row = await conn.fetchrow(
            "SELECT session_id, created_ts, serverdict, clientdict, uri, method, description "
            "FROM ui_auth_sessions WHERE session_id = $1",
            session_id,
        )
        if row is None:
            return None
        return UIASession(
            session_id=row["session_id"],
            created_ts=int(row["created_ts"]),
            serverdict=json.loads(row["serverdict"]),
            clientdict=json.loads(row["clientdict"]),
            uri=row["uri"],
            method=row["method"],
            description=row["description"],
        )

    async def set_serverdict_value(
        self, txn: Connection, session_id: str, key: str, value: Any
    ) -> None:
        """Sets one key of the session's serverdict."""
        raw = await txn.fetchval(
            "SELECT serverdict FROM ui_auth_sessions WHERE session_id = $1", session_id
        )
        serverdict = json.loads(raw) if raw is not None else {}
        serverdict[key] = value
        await txn.execute(
            "UPDATE ui_auth_sessions SET serverdict = $2 WHERE session_id = $1",
            session_id,
            _json(serverdict),
        )

    async def set_clientdict(
        self, txn: Connection, session_id: str, clientdict: dict[str, Any]
    ) -> None:
        await txn.execute(
            "UPDATE ui_auth_sessions SET clientdict = $2 WHERE session_id = $1",
            session_id,
            _json(clientdict),
        )

    async def mark_stage_complete(
        self, txn: Connection, session_id: str, stage_type: str, result: Any
    ) -> None:
        await txn.execute(
            "INSERT INTO ui_auth_sessions_credentials (session_id, stage_type, result) "
            "VALUES ($1, $2, $3) ON CONFLICT (session_id, stage_type) "
            "DO UPDATE SET result = EXCLUDED.result",
            session_id,
            stage_type,
            _json(result),
        )

    async def completed_stages(self, conn: Connection, session_id: str) -> dict[str, Any]:
        """Stage type → the stage's result, for the session's completed stages."""
        rows = await conn.fetch(
            "SELECT stage_type, result FROM ui_auth_sessions_credentials WHERE session_id = $1",
            session_id,
        )
        return {r["stage_type"]: json.loads(r["result"]) for r in rows}

    async def delete(self, txn: Connection, session_id: str) -> None:
        await txn.execute(
            "DELETE FROM ui_auth_sessions_credentials WHERE session_id = $1", session_id
        )
        await txn.execute("DELETE FROM ui_auth_sessions WHERE session_id = $1", session_id)

    async def expired(self, conn: Connection, created_before_ts: int) -> list[UIASession]:
        """Sessions created before the given time."""
        rows = await conn.fetch(
            "SELECT session_id FROM ui_auth_sessions WHERE created_ts < $1", created_before_ts
        )
        sessions = []
        for r in rows:
            s = await self.get(conn, r["session_id"])
            if s is not None:
                sessions.append(s)
        return sessions
