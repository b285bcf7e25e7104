"""Cross-signing: publishing a user's master / self-signing / user-signing
keys, and uploading signatures made with them (or with a device on the
master key).

Upload rules:
- every key names the uploader, carries its usage and exactly one ed25519
  key whose id is ``ed25519:<public key>``;
- a self-signing or user-signing key must be signed by the master key (the
  one in the same request, else the stored one; no master at all is
  M_MISSING_PARAM);
- a public key equal to one of the user's device ids is refused (403), since
  key ids and device ids share one namespace in /keys/signatures/upload.

Whether user-interactive auth is needed is :meth:`CrossSigningService.needs_auth`:
not for a first upload (no master key yet), nor when every key in the
request equals the stored one (a retried upload), per spec v1.11.

Signature uploads are checked one by one; a bad one is reported under
``failures`` and does not stop the others:
- a signature on one's own device, with the self-signing key;
- a signature on one's own master key, with one of one's devices;
- a signature on another user's master key, with one's user-signing key.
The object sent must be the stored key (signatures and ``unsigned`` aside).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.core.errors import (
    BadJson,
    Codes,
    Forbidden,
    InvalidParam,
    MatrixError,
    MissingParam,
    SignatureError,
)
from homeserver.core.signing import decode_verify_key, verify_json
from homeserver.services.clock import Clock
from homeserver.services.e2e.keys import (
    MASTER,
    SELF_SIGNING,
    USER_SIGNING,
    E2EKeyService,
    public_key_of,
)
from homeserver.services.e2e.validation import (
    check_signatures,
    is_storable_text,
    is_valid_user_id,
    strip_signatures,
)
from homeserver.storage.db import Database
from homeserver.storage.stores.devices import DeviceStore
from homeserver.storage.stores.e2e_keys import E2EKeyStore, Signature

JsonDict = dict[str, Any]

#: Request body field → stored key type.
BODY_FIELDS = {
    "master_key": MASTER,
    "self_signing_key": SELF_SIGNING,
    "user_signing_key": USER_SIGNING,
}


class CrossSigningService:
    """Cross-signing keys and signatures of local users."""

    def __init__(self, db: Database, clock: Clock, keys: E2EKeyService) -> None:
        self._db = db
        self._clock = clock
        self._keys = keys
        self._store = E2EKeyStore()
        self._devices = DeviceStore()

    async def needs_auth(self, user_id: str, uploaded: Mapping[str, Any]) -> bool:
        """Whether an upload of these keys needs user-interactive auth.

        Args:
            uploaded: the request body (``master_key`` etc.; other fields ignored).
        """
        async with self._db.read() as conn:
            stored = (await self._store.get_cross_signing_keys(conn, [user_id])).get(user_id, {})
        if MASTER not in stored:
            return False
        given = {t: uploaded[f] for f, t in BODY_FIELDS.items() if uploaded.get(f) is not None}
        if not given or MASTER not in given:
            return True
        return any(stored.get(t) != key for t, key in given.items())

    async def upload_keys(self, user_id: str, uploaded: Mapping[str, Any]) -> None:
        """Publishes the given cross-signing keys (auth already done).

        Raises:
            BadJson / InvalidParam: malformed key or key of another user.
            MissingParam: a sub-key with no master key available.
            MatrixError(M_INVALID_SIGNATURE): a sub-key not signed by the master key.
            Forbidden: a public key equal to one of the user's device ids.
        """
        given: dict[str, JsonDict] = {}
        for body_field, key_type in BODY_FIELDS.items():
            value = uploaded.get(body_field)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise BadJson(f"'{body_field}' must be an object")
            given[key_type] = value
        if not given:
            return
        publics = {t: _check_key(key, user_id, t) for t, key in given.items()}
        async with self._db.read() as conn:
            stored = (await self._store.get_cross_signing_keys(conn, [user_id])).get(user_id, {})
            device_ids = {d.device_id for d in await self._devices.list_for_user(conn, user_id)}
        if device_ids & set(publics.values()):
            raise Forbidden("Key ID in use: a cross-signing key equals a device id")
        master = given.get(MASTER) or stored.get(MASTER)
        for key_type in (SELF_SIGNING, USER_SIGNING):
            if key_type not in given:
                continue
            if master is None:
                raise MissingParam("No master key available to verify the signing key")
            master_pub = public_key_of(master)
            if master_pub is None or not _verifies(given[key_type], user_id, master_pub):
                raise MatrixError(
                    f"The {key_type} key is not signed by the master key",
                    code=Codes.INVALID_SIGNATURE,
                    status=400,
                )
        changes = {t: k for t, k in given.items() if stored.get(t) != k}
        if not changes:
            return
        now = self._clock.time_ms()
        stream = self._keys.device_list_stream
        with stream.allocating() as positions:
            async with self._db.write() as txn:
                for key_type, key in changes.items():
                    old = stored.get(key_type)
                    old_pub = public_key_of(old) if old is not None else None
                    if old_pub is not None and old_pub != publics[key_type]:
                        # Signatures made with a replaced key no longer mean anything.
                        await self._store.delete_signatures_by(txn, user_id, f"ed25519:{old_pub}")
                    await self._store.set_cross_signing_key(
                        txn, user_id, key_type, publics[key_type], key, now
                    )
                position = positions.next()
                await self._keys.mark_device_list_changed_in(txn, position, user_id)
            await self._keys.announce(positions, user_id, position)

    async def upload_signatures(self, user_id: str, body: Mapping[str, Any]) -> JsonDict:
        """Checks and stores signatures; returns ``{"failures": user → key id → error}``."""
        failures: dict[str, dict[str, JsonDict]] = {}
        accepted: list[Signature] = []
        for target_user, objects in body.items():
            if not isinstance(objects, dict):
                raise BadJson("Each user must map key ids to signed objects")
            for key_id, obj in objects.items():
                try:
                    accepted.extend(await self._check_signature(user_id, target_user, key_id, obj))
                except MatrixError as e:
                    failures.setdefault(target_user, {})[key_id] = {
                        "errcode": str(e.code),
                        "error": e.message,
                    }
        if accepted:
            await self._store_signatures(user_id, accepted)
        return {"failures": failures}

    async def _store_signatures(self, user_id: str, accepted: list[Signature]) -> None:
        # A signature on another user's master key is only shown to its
        # signer, so only the signer's device list changes.
        changed = {s.target_user_id if s.target_user_id == user_id else user_id for s in accepted}
        stream = self._keys.device_list_stream
        with stream.allocating() as positions:
            async with self._db.write() as txn:
                await self._store.add_signatures(txn, accepted)
                announced = []
                for who in sorted(changed):
                    position = positions.next()
                    await self._keys.mark_device_list_changed_in(txn, position, who)
                    announced.append((who, position))
            for who, position in announced:
                await self._keys.announce(positions, who, position)

    async def _check_signature(
        self, user_id: str, target_user: str, key_id: str, obj: Any
    ) -> list[Signature]:
        if not isinstance(obj, dict):
            raise InvalidParam("The signed object must be an object")
        if not is_valid_user_id(target_user) or not is_storable_text(key_id):
            raise InvalidParam("Invalid user id or key id")
        check_signatures(obj.get("signatures"), "signed object")
        new_sigs = obj["signatures"].get(user_id)
        if not isinstance(new_sigs, dict) or not new_sigs:
            raise MatrixError("No signature by you", code=Codes.INVALID_SIGNATURE, status=400)
        async with self._db.read() as conn:
            keys = await self._store.get_cross_signing_keys(conn, [user_id, target_user])
            own = keys.get(user_id, {})
            target_master = keys.get(target_user, {}).get(MASTER)
            device_keys = None
            if target_user == user_id and (
                target_master is None or public_key_of(target_master) != key_id
            ):
                device_keys = await self._store.get_device_keys(conn, user_id, key_id)
            devices = (
                await self._store.device_keys_for_user(conn, user_id)
                if target_user == user_id
                else {}
            )
        if target_user == user_id and device_keys is not None:
            # Our own device, signed with our self-signing key.
            signer = own.get(SELF_SIGNING)
            if signer is None:
                raise MatrixError("No self-signing key", code=Codes.NOT_FOUND, status=404)
            return [
                _verified(obj, device_keys, user_id, public_key_of(signer), target_user, key_id)
            ]
        if target_master is None or public_key_of(target_master) != key_id:
            raise MatrixError("Unknown key", code=Codes.NOT_FOUND, status=404)
        if target_user != user_id:
            # Another user's master key, signed with our user-signing key.
            signer = own.get(USER_SIGNING)
            if signer is None:
                raise MatrixError("No user-signing key", code=Codes.NOT_FOUND, status=404)
            return [
                _verified(obj, target_master, user_id, public_key_of(signer), target_user, key_id)
            ]
        # Our own master key, signed by our devices.
        out: list[Signature] = []
        existing = (target_master.get("signatures") or {}).get(user_id, {})
        for signer_key_id in new_sigs:
            if signer_key_id in existing:
                continue
            algorithm, _, device_id = signer_key_id.partition(":")
            device = devices.get(device_id)
            device_pub = device[0].get("keys", {}).get(signer_key_id) if device else None
            if algorithm != "ed25519" or not isinstance(device_pub, str):
                raise MatrixError(
                    f"Unknown signing device {device_id[:80]!r}", code=Codes.NOT_FOUND, status=404
                )
            out.append(
                _verified(
                    obj, target_master, user_id, device_pub, target_user, key_id, signer_key_id
                )
            )
        if not out:
            raise MatrixError("No new signature", code=Codes.INVALID_SIGNATURE, status=400)
        return out


def _check_key(key: JsonDict, user_id: str, key_type: str) -> str:
    """Checks a cross-signing key's shape; returns its public key."""
    if key.get("user_id") != user_id:
        raise InvalidParam(f"The {key_type} key must belong to you")
    usage = key.get("usage")
    if not isinstance(usage, list) or key_type not in usage:
        raise InvalidParam(f"The {key_type} key must list '{key_type}' in 'usage'")
    keys = key.get("keys")
    if not isinstance(keys, dict) or len(keys) != 1:
        raise InvalidParam(f"The {key_type} key must hold exactly one key")
    ((key_id, public),) = keys.items()
    if not isinstance(public, str) or key_id != f"ed25519:{public}" or not is_storable_text(public):
        raise InvalidParam(f"The {key_type} key must be 'ed25519:<public key>': <public key>")
    try:
        decode_verify_key(key_id, public)
    except SignatureError as e:
        raise InvalidParam(f"The {key_type} key is not a valid ed25519 key") from e
    if "signatures" in key:
        check_signatures(key["signatures"], f"{key_type} key")
    return public


def _verifies(obj: Mapping[str, Any], signer_user: str, public: str, key_id: str = "") -> bool:
    try:
        verify_json(obj, signer_user, decode_verify_key(key_id or f"ed25519:{public}", public))
    except SignatureError:
        return False
    return True


def _verified(
    obj: JsonDict,
    stored: JsonDict,
    signer_user: str,
    signer_public: str | None,
    target_user: str,
    target_key_id: str,
    signer_key_id: str = "",
) -> Signature:
    """Checks that ``obj`` is ``stored`` and carries a valid signature by the signer."""
    if strip_signatures(obj) != strip_signatures(stored):
        raise InvalidParam("The signed object does not match the stored key")
    if signer_public is None:
        raise MatrixError("Unknown signing key", code=Codes.NOT_FOUND, status=404)
    signer_key_id = signer_key_id or f"ed25519:{signer_public}"
    if not _verifies(obj, signer_user, signer_public, signer_key_id):
        raise MatrixError("Invalid signature", code=Codes.INVALID_SIGNATURE, status=400)
    signature = obj["signatures"][signer_user][signer_key_id]
    return Signature(signer_user, signer_key_id, target_user, target_key_id, signature)
