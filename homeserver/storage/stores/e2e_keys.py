"""End-to-end encryption keys: ``e2e_device_keys``, ``e2e_one_time_keys``,
``e2e_fallback_keys``, ``e2e_cross_signing_keys`` and
``e2e_cross_signing_signatures``.

Key objects are stored as the canonical JSON the client uploaded and come
back as dicts. Signatures uploaded later (cross-signing) live in their own
table; the service merges them into the object it serves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.storage.db import Connection, Dialect

JsonDict = dict[str, Any]

_BATCH = 500


def _encode(obj: JsonDict) -> str:
    return encode_canonical_json(obj).decode("utf-8")


@dataclass(frozen=True, slots=True)
class ClaimedKey:
    #: ``algorithm:key_id``
    key_id: str
    key: Any
    #: True when a fallback key was handed out because no one-time key was left.
    fallback: bool


@dataclass(frozen=True, slots=True)
class Signature:
    signer_user_id: str
    signer_key_id: str
    target_user_id: str
    target_key_id: str
    signature: str


class E2EKeyStore:
    """Reads and writes device, one-time, fallback and cross-signing keys."""

    # --- device keys -----------------------------------------------------------

    async def get_device_keys(
        self, conn: Connection, user_id: str, device_id: str
    ) -> JsonDict | None:
        raw = await conn.fetchval(
            "SELECT key_json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
        )
        return None if raw is None else _loads_obj(raw)

    async def set_device_keys(
        self, txn: Connection, user_id: str, device_id: str, keys: JsonDict, now_ms: int
    ) -> bool:
        """Stores the device's keys.

        Returns:
            False when the same object was already stored (nothing changed).
        """
        encoded = _encode(keys)
        old = await txn.fetchval(
            "SELECT key_json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
        )
        if old == encoded:
            return False
        await txn.execute(
            "INSERT INTO e2e_device_keys (user_id, device_id, key_json, added_ts) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device_id) DO UPDATE SET "
            "key_json = EXCLUDED.key_json, added_ts = EXCLUDED.added_ts",
            user_id,
            device_id,
            encoded,
            now_ms,
        )
        return True

    async def device_keys_for_user(
        self, conn: Connection, user_id: str, device_ids: Sequence[str] = ()
    ) -> dict[str, tuple[JsonDict, str | None]]:
        """``device_id → (keys, device display name)`` of the user's devices that
        uploaded keys and still exist; restricted to ``device_ids`` when given."""
        rows = await conn.fetch(
            "SELECT k.device_id, k.key_json, d.display_name FROM e2e_device_keys k "
            "JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id "
            "WHERE k.user_id = $1 ORDER BY k.device_id",
            user_id,
        )
        wanted = set(device_ids)
        return {
            r["device_id"]: (_loads_obj(r["key_json"]), r["display_name"])
            for r in rows
            if not wanted or r["device_id"] in wanted
        }

    # --- one-time keys ---------------------------------------------------------

    async def existing_one_time_keys(
        self, conn: Connection, user_id: str, device_id: str, key_ids: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """``(algorithm, key_id) → stored json`` for those of ``key_ids`` already stored."""
        wanted = set(key_ids)
        if not wanted:
            return {}
        rows = await conn.fetch(
            "SELECT algorithm, key_id, key_json FROM e2e_one_time_keys "
            "WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
        )
        return {
            (r["algorithm"], r["key_id"]): r["key_json"]
            for r in rows
            if (r["algorithm"], r["key_id"]) in wanted
        }

    async def add_one_time_keys(
        self,
        txn: Connection,
        user_id: str,
        device_id: str,
        keys: Sequence[tuple[str, str, Any]],
        now_ms: int,
    ) -> None:
        """Adds ``(algorithm, key_id, key)`` rows; ids already stored are left alone."""
        await txn.executemany(
            "INSERT INTO e2e_one_time_keys "
            "(user_id, device_id, algorithm, key_id, key_json, added_ts) "
            "VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING",
            [
                (
                    user_id,
                    device_id,
                    alg,
                    key_id,
                    encode_canonical_json(key).decode("utf-8"),
                    now_ms,
                )
                for alg, key_id, key in keys
            ],
        )

    async def count_one_time_keys(
        self, conn: Connection, user_id: str, device_id: str
    ) -> dict[str, int]:
        """``algorithm → number of unclaimed one-time keys`` (absent when zero)."""
        rows = await conn.fetch(
            "SELECT algorithm, COUNT(*) AS n FROM e2e_one_time_keys "
            "WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm",
            user_id,
            device_id,
        )
        return {r["algorithm"]: int(r["n"]) for r in rows}

    async def claim_one_time_key(
        self, txn: Connection, dialect: Dialect, user_id: str, device_id: str, algorithm: str
    ) -> ClaimedKey | None:
        """Removes and returns one one-time key of ``algorithm``; else the fallback key.

        Keys go out in the order they were uploaded, the oldest first
        (MSC4225: a client that runs out of room forgets its oldest keys, so
        those must be used up first); keys of one upload by key id, as
        Synapse does.
        The delete picks its row and removes it in one statement. On
        PostgreSQL, ``SKIP LOCKED`` makes concurrent claimers pick different
        rows instead of racing for the same one (the loser of such a race
        would delete nothing); SQLite has one writer, so no race exists.
        A fallback key handed out is marked used, and stays claimable.

        Returns:
            The key, or None when the device has neither for ``algorithm``.
        """
        lock = " FOR UPDATE SKIP LOCKED" if dialect.is_postgres else ""
        for _ in range(3):
            row = await txn.fetchrow(
                "DELETE FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 "
                "AND algorithm = $3 AND key_id = (SELECT key_id FROM e2e_one_time_keys "
                "WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 "
                f"ORDER BY added_ts, key_id LIMIT 1{lock}) RETURNING key_id, key_json",
                user_id,
                device_id,
                algorithm,
            )
            if row is not None:
                return ClaimedKey(
                    f"{algorithm}:{row['key_id']}", json.loads(row["key_json"]), False
                )
            left = await txn.fetchval(
                "SELECT COUNT(*) FROM e2e_one_time_keys "
                "WHERE user_id = $1 AND device_id = $2 AND algorithm = $3",
                user_id,
                device_id,
                algorithm,
            )
            if not left:
                break
        fallback = await txn.fetchrow(
            "UPDATE e2e_fallback_keys SET used = TRUE "
            "WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 "
            "RETURNING key_id, key_json",
            user_id,
            device_id,
            algorithm,
        )
        if fallback is None:
            return None
        return ClaimedKey(
            f"{algorithm}:{fallback['key_id']}", json.loads(fallback["key_json"]), True
        )

    # --- fallback keys ---------------------------------------------------------

    async def set_fallback_key(
        self, txn: Connection, user_id: str, device_id: str, algorithm: str, key_id: str, key: Any
    ) -> None:
        """Replaces the device's fallback key of ``algorithm``.

        Uploading the very same key again keeps its ``used`` flag (a client
        re-sending its keys must not make a used key look fresh).
        """
        encoded = encode_canonical_json(key).decode("utf-8")
        await txn.execute(
            "INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) "
            "VALUES ($1, $2, $3, $4, $5, FALSE) "
            "ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET "
            "key_id = EXCLUDED.key_id, key_json = EXCLUDED.key_json, used = CASE "
            "WHEN e2e_fallback_keys.key_id = EXCLUDED.key_id "
            "AND e2e_fallback_keys.key_json = EXCLUDED.key_json "
            "THEN e2e_fallback_keys.used ELSE FALSE END",
            user_id,
            device_id,
            algorithm,
            key_id,
            encoded,
        )

    async def unused_fallback_key_types(
        self, conn: Connection, user_id: str, device_id: str
    ) -> list[str]:
        """The algorithms of the device's fallback keys not handed out yet, sorted."""
        rows = await conn.fetch(
            "SELECT algorithm FROM e2e_fallback_keys "
            "WHERE user_id = $1 AND device_id = $2 AND used = FALSE ORDER BY algorithm",
            user_id,
            device_id,
        )
        return [r["algorithm"] for r in rows]

    async def sync_key_state(
        self, conn: Connection, user_id: str, device_id: str
    ) -> tuple[dict[str, int], list[str]]:
        """:meth:`count_one_time_keys` and :meth:`unused_fallback_key_types`
        in one statement (one round trip for every ``/sync``)."""
        rows = await conn.fetch(
            "SELECT 'otk' AS kind, algorithm, COUNT(*) AS n FROM e2e_one_time_keys "
            "WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm "
            "UNION ALL SELECT 'fallback' AS kind, algorithm, 0 AS n FROM e2e_fallback_keys "
            "WHERE user_id = $1 AND device_id = $2 AND used = FALSE",
            user_id,
            device_id,
        )
        counts = {r["algorithm"]: int(r["n"]) for r in rows if r["kind"] == "otk"}
        fallback = sorted(r["algorithm"] for r in rows if r["kind"] == "fallback")
        return counts, fallback

    # --- membership moves (for /keys/changes) ---------------------------------

    async def membership_changes(
        self, conn: Connection, room_id: str, since: int, upto: int
    ) -> list[tuple[str, str]]:
        """``(user_id, membership)`` of the room's membership events in the room
        stream range ``(since, upto]``, oldest first.

        ``room_memberships`` belongs to the rooms store; this only reads it.
        """
        rows = await conn.fetch(
            "SELECT user_id, membership FROM room_memberships WHERE room_id = $1 "
            "AND stream_ordering > $2 AND stream_ordering <= $3 ORDER BY stream_ordering",
            room_id,
            since,
            upto,
        )
        return [(r["user_id"], r["membership"]) for r in rows]

    # --- per-device cleanup ----------------------------------------------------

    async def delete_for_devices(
        self, txn: Connection, user_id: str, device_ids: Sequence[str]
    ) -> None:
        """Deletes every key of the devices and the signatures made on them."""
        args = [(user_id, d) for d in device_ids]
        for table in ("e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys"):
            await txn.executemany(
                f"DELETE FROM {table} WHERE user_id = $1 AND device_id = $2", args
            )
        await txn.executemany(
            "DELETE FROM e2e_cross_signing_signatures "
            "WHERE target_user_id = $1 AND target_key_id = $2",
            args,
        )

    # --- cross-signing keys ----------------------------------------------------

    async def get_cross_signing_keys(
        self, conn: Connection, user_ids: Sequence[str]
    ) -> dict[str, dict[str, JsonDict]]:
        """``user_id → key_type → key`` of the users' cross-signing keys."""
        out: dict[str, dict[str, JsonDict]] = {}
        for start in range(0, len(user_ids), _BATCH):
            chunk = list(user_ids[start : start + _BATCH])
            placeholders = ", ".join(f"${i + 1}" for i in range(len(chunk)))
            rows = await conn.fetch(
                "SELECT user_id, key_type, key_json FROM e2e_cross_signing_keys "
                f"WHERE user_id IN ({placeholders})",
                *chunk,
            )
            for r in rows:
                out.setdefault(r["user_id"], {})[r["key_type"]] = _loads_obj(r["key_json"])
        return out

    async def set_cross_signing_key(
        self,
        txn: Connection,
        user_id: str,
        key_type: str,
        public_key: str,
        key: JsonDict,
        now_ms: int,
    ) -> None:
        await txn.execute(
            "INSERT INTO e2e_cross_signing_keys "
            "(user_id, key_type, public_key, key_json, added_ts) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (user_id, key_type) DO UPDATE SET public_key = EXCLUDED.public_key, "
            "key_json = EXCLUDED.key_json, added_ts = EXCLUDED.added_ts",
            user_id,
            key_type,
            public_key,
            _encode(key),
            now_ms,
        )

    # --- signatures ------------------------------------------------------------

    async def add_signatures(self, txn: Connection, signatures: Sequence[Signature]) -> None:
        await txn.executemany(
            "INSERT INTO e2e_cross_signing_signatures "
            "(signer_user_id, signer_key_id, target_user_id, target_key_id, signature) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT "
            "(signer_user_id, signer_key_id, target_user_id, target_key_id) "
            "DO UPDATE SET signature = EXCLUDED.signature",
            [
                (s.signer_user_id, s.signer_key_id, s.target_user_id, s.target_key_id, s.signature)
                for s in signatures
            ],
        )

    async def signatures_on(
        self, conn: Connection, target_user_id: str, target_key_ids: Sequence[str]
    ) -> list[Signature]:
        """The uploaded signatures on the given keys of one user."""
        if not target_key_ids:
            return []
        wanted = set(target_key_ids)
        rows = await conn.fetch(
            "SELECT signer_user_id, signer_key_id, target_user_id, target_key_id, signature "
            "FROM e2e_cross_signing_signatures WHERE target_user_id = $1",
            target_user_id,
        )
        return [
            Signature(
                r["signer_user_id"],
                r["signer_key_id"],
                r["target_user_id"],
                r["target_key_id"],
                r["signature"],
            )
            for r in rows
            if r["target_key_id"] in wanted
        ]

    async def delete_signatures_by(
        self, txn: Connection, signer_user_id: str, signer_key_id: str
    ) -> None:
        """Forgets the signatures made with a key that was replaced."""
        await txn.execute(
            "DELETE FROM e2e_cross_signing_signatures "
            "WHERE signer_user_id = $1 AND signer_key_id = $2",
            signer_user_id,
            signer_key_id,
        )


def _loads_obj(raw: str) -> JsonDict:
    value: JsonDict = json.loads(raw)
    return value
