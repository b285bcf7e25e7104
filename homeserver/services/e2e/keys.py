"""Key distribution: device keys, one-time keys, fallback keys, and who changed.

- ``upload``: a device publishes its identity keys (different keys replace
  the old ones and count as a device-list change, as in Synapse), one-time
  keys (an id already stored with other content is refused) and fallback
  keys (one per algorithm, replacing the last).
- ``claim``: hands out one one-time key per requested device and removes it
  in the same statement, so two claims never get the same key; when none is
  left, the device's fallback key is handed out and marked used.
- ``query``: device keys of local users (with ``unsigned.device_display_name``)
  and their cross-signing keys; a user-signing key is only shown to its
  owner, and signatures other users made on a master key only to their signer.
- ``device_list_changes``: users whose devices or keys changed between two
  stream tokens among those sharing a room with the requester, and users
  who stopped sharing every room with them.

Whenever a user's device keys or cross-signing keys change, a row goes into
the device-list stream and the notifier wakes the user and everyone sharing
a room with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.core.errors import BadJson, CanonicalJsonError, InvalidParam
from homeserver.core.ids import server_name_of
from homeserver.core.tokens import StreamToken
from homeserver.notifier import Notifier
from homeserver.services.clock import Clock
from homeserver.services.e2e.validation import (
    check_id,
    check_signatures,
    is_valid_user_id,
    split_key_id,
)
from homeserver.storage.db import Connection, Database
from homeserver.storage.stores.e2e_keys import E2EKeyStore, Signature
from homeserver.storage.stores.presence import PresenceStore
from homeserver.storage.stores.state import StateStore
from homeserver.storage.streams import PositionBatch, StreamIdGenerator

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: The cross-signing key types, as stored and as named in /keys/query.
MASTER = "master"
SELF_SIGNING = "self_signing"
USER_SIGNING = "user_signing"

#: One-time key algorithm always reported in counts, even at zero (clients
#: read its absence as "unknown" rather than "none left").
SIGNED_CURVE25519 = "signed_curve25519"

#: Most one-time keys accepted in one upload, and most keys claimed at once.
MAX_KEYS_PER_REQUEST = 1000


@dataclass(frozen=True, slots=True)
class DeviceListChanges:
    #: Users whose device lists changed and who share a room with the requester.
    changed: frozenset[str] = field(default_factory=frozenset)
    #: Users who no longer share any room with the requester.
    left: frozenset[str] = field(default_factory=frozenset)


class E2EKeyService:
    """Uploading, querying and claiming end-to-end keys."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        server_name: str,
        device_lists: StreamIdGenerator,
        notifier: Notifier,
    ) -> None:
        self._db = db
        self._clock = clock
        self._server_name = server_name
        self._device_lists = device_lists
        self._notifier = notifier
        self._keys = E2EKeyStore()
        self._state = StateStore()
        self._stream = PresenceStore()
        #: called with ``(user_id, device_id)`` after a device's one-time or
        #: fallback keys changed (upload, claim); must not block or fail
        self.key_count_listeners: list[Callable[[str, str], None]] = []

    # --- upload ----------------------------------------------------------------

    async def upload(
        self,
        user_id: str,
        device_id: str,
        *,
        device_keys: JsonDict | None,
        one_time_keys: JsonDict | None,
        fallback_keys: JsonDict | None,
    ) -> dict[str, int]:
        """Stores a device's keys.

        Args:
            device_keys: the signed DeviceKeys object, or None.
            one_time_keys: ``algorithm:key_id → key`` (a string or a signed object).
            fallback_keys: the same shape; at most one per algorithm.

        Returns:
            The device's one-time key counts after the upload.

        Raises:
            BadJson / InvalidParam: malformed keys, keys naming another user or
                device, or a one-time key id reused with other content.
        """
        if device_keys is not None:
            _check_device_keys(device_keys, user_id, device_id)
        otks = _parse_keys(one_time_keys or {}, "one-time key")
        fallbacks = _parse_keys(fallback_keys or {}, "fallback key")
        if len({alg for alg, _, _ in fallbacks}) != len(fallbacks):
            raise InvalidParam("Only one fallback key per algorithm may be uploaded")
        changed = False
        with self._device_lists.allocating() as positions:
            async with self._db.write() as txn:
                if device_keys is not None:
                    changed = await self._store_device_keys(txn, user_id, device_id, device_keys)
                if otks:
                    await self._store_one_time_keys(txn, user_id, device_id, otks)
                for algorithm, key_id, key in fallbacks:
                    await self._keys.set_fallback_key(
                        txn, user_id, device_id, algorithm, key_id, key
                    )
                if changed:
                    position = positions.next()
                    await self._stream.add_device_list_change(txn, user_id, position)
                counts = await self._keys.count_one_time_keys(txn, user_id, device_id)
            if changed:
                await self.announce(positions, user_id, positions.positions[-1])
        if otks or fallbacks:
            self._key_counts_changed([(user_id, device_id)])
        return _with_default_counts(counts)

    def _key_counts_changed(self, devices: Sequence[tuple[str, str]]) -> None:
        for user_id, device_id in devices:
            for listener in self.key_count_listeners:
                listener(user_id, device_id)

    @staticmethod
    def check_upload(
        user_id: str,
        device_id: str,
        *,
        device_keys: JsonDict | None,
        one_time_keys: JsonDict | None,
        fallback_keys: JsonDict | None,
    ) -> None:
        """The shape checks of :meth:`upload`, without storing anything.

        Raises:
            BadJson / InvalidParam: what :meth:`upload` would refuse on shape alone.
        """
        if device_keys is not None:
            _check_device_keys(device_keys, user_id, device_id)
        _parse_keys(one_time_keys or {}, "one-time key")
        fallbacks = _parse_keys(fallback_keys or {}, "fallback key")
        if len({alg for alg, _, _ in fallbacks}) != len(fallbacks):
            raise InvalidParam("Only one fallback key per algorithm may be uploaded")

    async def _store_device_keys(
        self, txn: Connection, user_id: str, device_id: str, device_keys: JsonDict
    ) -> bool:
        # Different keys replace the old ones (as Synapse does): a client may
        # re-create its crypto store for the same device. The caller records
        # the device-list change, so peers query the new keys.
        return await self._keys.set_device_keys(
            txn, user_id, device_id, device_keys, self._clock.time_ms()
        )

    async def _store_one_time_keys(
        self,
        txn: Connection,
        user_id: str,
        device_id: str,
        otks: Sequence[tuple[str, str, Any]],
    ) -> None:
        existing = await self._keys.existing_one_time_keys(
            txn, user_id, device_id, [(alg, kid) for alg, kid, _ in otks]
        )
        new: list[tuple[str, str, Any]] = []
        for algorithm, key_id, key in otks:
            stored = existing.get((algorithm, key_id))
            if stored is None:
                new.append((algorithm, key_id, key))
            elif stored != encode_canonical_json(key).decode("utf-8"):
                raise InvalidParam(
                    f"One-time key {algorithm}:{key_id} already exists with other content"
                )
        await self._keys.add_one_time_keys(txn, user_id, device_id, new, self._clock.time_ms())

    # --- counts for /sync --------------------------------------------------------

    async def otk_counts(self, user_id: str, device_id: str) -> dict[str, int]:
        """``algorithm → unclaimed one-time keys`` of a device (for /sync's
        ``device_one_time_keys_count``); ``signed_curve25519`` is always present."""
        async with self._db.read() as conn:
            counts = await self._keys.count_one_time_keys(conn, user_id, device_id)
        return _with_default_counts(counts)

    async def sync_key_state(
        self, user_id: str, device_id: str
    ) -> tuple[dict[str, int], list[str]]:
        """:meth:`otk_counts` and :meth:`unused_fallback_key_types` in one read."""
        async with self._db.read() as conn:
            counts, fallback = await self._keys.sync_key_state(conn, user_id, device_id)
        return _with_default_counts(counts), fallback

    async def unused_fallback_key_types(self, user_id: str, device_id: str) -> list[str]:
        """Algorithms of the device's fallback keys never handed out (for /sync's
        ``device_unused_fallback_key_types``)."""
        async with self._db.read() as conn:
            return await self._keys.unused_fallback_key_types(conn, user_id, device_id)

    # --- claim -----------------------------------------------------------------

    async def claim(self, wanted: Mapping[str, Mapping[str, str]]) -> JsonDict:
        """Claims one key per ``user → device → algorithm``.

        Returns:
            The response body: ``one_time_keys`` (``user → device → {key id: key}``,
            devices with nothing left are absent) and ``failures`` (by remote
            server, which this server cannot reach yet).
        """
        requests = _parse_claim(wanted)
        out: dict[str, dict[str, dict[str, Any]]] = {}
        failures: JsonDict = {}
        local = [(u, d, a) for u, d, a in requests if server_name_of(u) == self._server_name]
        for user_id, _, _ in requests:
            server = server_name_of(user_id)
            if server != self._server_name:
                failures[server] = _unreachable(server)
        if local:
            async with self._db.write() as txn:
                for user_id, device_id, algorithm in local:
                    claimed = await self._keys.claim_one_time_key(
                        txn, self._db.dialect, user_id, device_id, algorithm
                    )
                    if claimed is not None:
                        out.setdefault(user_id, {})[device_id] = {claimed.key_id: claimed.key}
            self._key_counts_changed([(u, d) for u, ds in out.items() for d in ds])
        return {"one_time_keys": out, "failures": failures}

    # --- query -----------------------------------------------------------------

    async def query(self, requester_id: str, wanted: Mapping[str, Any]) -> JsonDict:
        """Device and cross-signing keys of ``user → [device ids]`` (empty: all).

        Returns:
            The response body of POST /keys/query.
        """
        users = _parse_query(wanted)
        device_keys: dict[str, dict[str, JsonDict]] = {}
        failures: JsonDict = {}
        local: list[str] = []
        for user_id in users:
            if server_name_of(user_id) == self._server_name:
                local.append(user_id)
            else:
                failures[server_name_of(user_id)] = _unreachable(server_name_of(user_id))
        master: dict[str, JsonDict] = {}
        self_signing: dict[str, JsonDict] = {}
        user_signing: dict[str, JsonDict] = {}
        async with self._db.read() as conn:
            for user_id in local:
                devices = await self._keys.device_keys_for_user(conn, user_id, users[user_id])
                sigs = await self._keys.signatures_on(conn, user_id, list(devices))
                out: dict[str, JsonDict] = {}
                for device_id, (keys, display_name) in devices.items():
                    own = [s for s in sigs if s.target_key_id == device_id]
                    keys = _merge_signatures(keys, own, visible_signers={user_id})
                    unsigned = dict(keys.get("unsigned") or {})
                    if display_name is not None:
                        unsigned["device_display_name"] = display_name
                    keys["unsigned"] = unsigned
                    out[device_id] = keys
                device_keys[user_id] = out
            cross = await self._keys.get_cross_signing_keys(conn, local)
            for user_id, by_type in cross.items():
                if MASTER in by_type:
                    key = by_type[MASTER]
                    pub = public_key_of(key)
                    sigs = await self._keys.signatures_on(conn, user_id, [pub] if pub else [])
                    master[user_id] = _merge_signatures(
                        key, sigs, visible_signers={user_id, requester_id}
                    )
                if SELF_SIGNING in by_type:
                    self_signing[user_id] = by_type[SELF_SIGNING]
                # A user-signing key says whom its owner trusts: the owner's business.
                if USER_SIGNING in by_type and user_id == requester_id:
                    user_signing[user_id] = by_type[USER_SIGNING]
        return {
            "device_keys": device_keys,
            "failures": failures,
            "master_keys": master,
            "self_signing_keys": self_signing,
            "user_signing_keys": user_signing,
        }

    # --- device list changes ---------------------------------------------------

    async def mark_device_list_changed(self, user_ids: Iterable[str]) -> None:
        """Records that the users' device lists changed and wakes whoever cares."""
        users = sorted(set(user_ids))
        if not users:
            return
        with self._device_lists.allocating() as positions:
            async with self._db.write() as txn:
                for user_id in users:
                    await self._stream.add_device_list_change(txn, user_id, positions.next())
            for user_id, position in zip(users, positions.positions, strict=True):
                await self.announce(positions, user_id, position)

    async def mark_device_list_changed_in(
        self, txn: Connection, position: int, user_id: str
    ) -> None:
        """Writes a device-list change inside the caller's transaction; the
        caller allocated ``position`` and calls :meth:`announce` after commit,
        inside its allocating block."""
        await self._stream.add_device_list_change(txn, user_id, position)

    @property
    def device_list_stream(self) -> StreamIdGenerator:
        return self._device_lists

    async def announce(self, positions: PositionBatch, user_id: str, position: int) -> None:
        """Announces a committed device-list change at ``position`` of the
        caller's batch: it wakes the user and everyone sharing a room once
        the stream passes it (call after the commit, inside the block)."""
        async with self._db.read() as conn:
            rooms = await self._state.rooms_for_user(conn, user_id, ("join",))
        positions.announce(rooms=rooms, users=(user_id,), position=position)
        logger.debug("device list of %s changed at %d", user_id, position)

    async def device_list_changes(
        self, user_id: str, since: StreamToken, upto: StreamToken
    ) -> DeviceListChanges:
        """Device-list changes that concern ``user_id`` in ``(since, upto]``.

        ``changed`` holds users sharing a room with ``user_id`` now (and the
        user themselves) whose device lists changed in the device-list range,
        plus users who started sharing a room in the room-stream range (their
        devices are new to the requester). ``left`` holds users who shared a
        room during the range and share none now.
        """
        async with self._db.read() as conn:
            shared = await self.users_sharing_a_room(conn, user_id)
            changed_users = await self._stream.device_list_changes(
                conn, since=since.device_lists, upto=max(since.device_lists, upto.device_lists)
            )
            changed = {u for u in changed_users if u in shared or u == user_id}
            left: set[str] = set()
            if upto.room > since.room:
                joined, departed = await self._membership_moves(
                    conn, user_id, since.room, upto.room
                )
                changed |= {u for u in joined if u in shared and u != user_id}
                left = {u for u in departed if u not in shared and u != user_id}
        return DeviceListChanges(frozenset(changed), frozenset(left - changed))

    async def users_sharing_a_room(self, conn: Connection, user_id: str) -> set[str]:
        """Every user joined to a room ``user_id`` is joined to (``user_id`` included
        when joined anywhere)."""
        out: set[str] = set()
        for room_id in await self._state.rooms_for_user(conn, user_id, ("join",)):
            for member in await self._state.get_members(conn, room_id, "join"):
                out.add(member.state_key)
        return out

    async def _membership_moves(
        self, conn: Connection, user_id: str, since: int, upto: int
    ) -> tuple[set[str], set[str]]:
        """Users who joined / left rooms of ``user_id`` in the room-stream range
        ``(since, upto]``; when ``user_id`` itself left a room, every member
        of that room counts as left."""
        rooms = set(await self._state.rooms_for_user(conn, user_id, ("join", "leave", "ban")))
        joined: set[str] = set()
        departed: set[str] = set()
        for room_id in rooms:
            for member, membership in await self._keys.membership_changes(
                conn, room_id, since, upto
            ):
                if membership == "join":
                    joined.add(member)
                elif member == user_id:
                    departed |= {m.state_key for m in await self._state.get_members(conn, room_id)}
                else:
                    departed.add(member)
        return joined, departed

    # --- device deletion -------------------------------------------------------

    async def delete_device_keys(
        self, txn: Connection, user_id: str, device_ids: Sequence[str]
    ) -> None:
        """Deletes every key of the devices inside the caller's transaction.

        Registered as a device-deletion hook (``DeviceService.deletion_hooks``).
        """
        await self._keys.delete_for_devices(txn, user_id, device_ids)


# --- helpers -------------------------------------------------------------------


def _with_default_counts(counts: dict[str, int]) -> dict[str, int]:
    return {SIGNED_CURVE25519: 0, **counts}


def _unreachable(server: str) -> JsonDict:
    return {"status": 503, "message": f"Not connected to {server}"}


def public_key_of(cross_signing_key: Mapping[str, Any]) -> str | None:
    """The ed25519 public key of a stored cross-signing key."""
    keys = cross_signing_key.get("keys")
    if isinstance(keys, dict):
        for key_id, value in keys.items():
            if isinstance(key_id, str) and key_id.startswith("ed25519:") and isinstance(value, str):
                return value
    return None


def _merge_signatures(
    obj: JsonDict, extra: Iterable[Signature], visible_signers: set[str]
) -> JsonDict:
    """A copy of ``obj`` with the uploaded signatures of ``visible_signers`` added."""
    out = dict(obj)
    merged: dict[str, dict[str, str]] = {
        signer: dict(sigs) for signer, sigs in (obj.get("signatures") or {}).items()
    }
    for sig in extra:
        if sig.signer_user_id in visible_signers:
            merged.setdefault(sig.signer_user_id, {})[sig.signer_key_id] = sig.signature
    out["signatures"] = merged
    return out


def _check_device_keys(keys: JsonDict, user_id: str, device_id: str) -> None:
    if keys.get("user_id") != user_id:
        raise InvalidParam("'device_keys.user_id' must be your user id")
    if keys.get("device_id") != device_id:
        raise InvalidParam("'device_keys.device_id' must be the id of this device")
    algorithms = keys.get("algorithms")
    if not isinstance(algorithms, list) or not all(isinstance(a, str) for a in algorithms):
        raise BadJson("'device_keys.algorithms' must be a list of strings")
    identity = keys.get("keys")
    if not isinstance(identity, dict) or not identity:
        raise BadJson("'device_keys.keys' must be a non-empty object")
    for key_id, value in identity.items():
        split_key_id(key_id, "device key id")
        if not isinstance(value, str):
            raise BadJson("'device_keys.keys' values must be strings")
    check_signatures(keys.get("signatures"), "device_keys")
    if "unsigned" in keys and not isinstance(keys["unsigned"], dict):
        raise BadJson("'device_keys.unsigned' must be an object")
    _check_encodable(keys)


def _parse_keys(keys: Mapping[str, Any], what: str) -> list[tuple[str, str, Any]]:
    """``algorithm:key_id → key`` → ``[(algorithm, key_id, key)]``, checked."""
    if len(keys) > MAX_KEYS_PER_REQUEST:
        raise InvalidParam(f"Too many {what}s in one request")
    out: list[tuple[str, str, Any]] = []
    for full_id, key in keys.items():
        algorithm, key_id = split_key_id(full_id, f"{what} id")
        if isinstance(key, dict):
            if "signatures" in key:
                check_signatures(key["signatures"], what)
        elif not isinstance(key, str):
            raise BadJson(f"A {what} must be a string or an object")
        _check_encodable(key)
        out.append((algorithm, key_id, key))
    return out


def _check_encodable(value: Any) -> None:
    try:
        encode_canonical_json(value)
    except CanonicalJsonError as e:
        raise BadJson("Keys must be valid JSON text") from e


def _parse_claim(wanted: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for user_id, devices in wanted.items():
        if not isinstance(devices, dict):
            raise BadJson("'one_time_keys' must map user ids to objects")
        if not is_valid_user_id(user_id):
            raise InvalidParam(f"Invalid user id {user_id[:80]!r}")
        for device_id, algorithm in devices.items():
            check_id(device_id, "device id")
            check_id(algorithm, "key algorithm")
            out.append((user_id, device_id, algorithm))
    if len(out) > MAX_KEYS_PER_REQUEST:
        raise InvalidParam("Too many keys claimed in one request")
    return out


def _parse_query(wanted: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for user_id, devices in wanted.items():
        if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
            raise BadJson("'device_keys' must map user ids to lists of device ids")
        if not is_valid_user_id(user_id):
            raise InvalidParam(f"Invalid user id {user_id[:80]!r}")
        # Device ids are only compared in memory, never sent to the database.
        out[user_id] = list(devices)
    return out
