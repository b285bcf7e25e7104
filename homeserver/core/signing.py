"""Hashes, event ids and signatures of events and JSON objects.

- The *content hash* covers the whole unredacted event (minus ``unsigned``,
  ``signatures`` and ``hashes``) and is stored in ``hashes.sha256``.
- The *reference hash* covers the redacted event; from v3 it is the event id.
- A server *signs* the redacted event, so signatures survive redaction.

Signing and verifying delegate to ``signedjson`` (ed25519 over canonical
JSON). Keys are ``signedjson.types.SigningKey``/``VerifyKey`` values, which
carry their algorithm (``alg``) and version; ``alg:version`` is the key id.

The signing key file format is the one-line-per-key text
``ed25519 <version> <unpadded base64 seed>`` that other homeservers use, so
existing key files can be reused.

Functions returning a dict never change their input: they return a new
top-level dict (nested values may be shared).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from signedjson.key import (
    decode_signing_key_base64,
    decode_verify_key_bytes,
    encode_signing_key_base64,
    encode_verify_key_base64,
    get_verify_key,
    is_signing_algorithm_supported,
)
from signedjson.key import generate_signing_key as _generate_signing_key
from signedjson.sign import SignatureVerifyException, verify_signed_json
from signedjson.sign import sign_json as _sign_json
from signedjson.types import SigningKey, VerifyKey
from unpaddedbase64 import decode_base64, encode_base64

from homeserver.core.canonical_json import encode_canonical_json
from homeserver.core.errors import InvalidEvent, SignatureError
from homeserver.core.ids import EventID, RoomID
from homeserver.core.redaction import redact
from homeserver.core.room_versions import EventFormat, RoomVersion

JsonDict = dict[str, Any]

__all__ = [
    "SigningKey",
    "VerifyKey",
    "add_content_hash",
    "check_content_hash",
    "compute_content_hash",
    "compute_event_id",
    "compute_reference_hash",
    "decode_verify_key",
    "encode_verify_key",
    "generate_signing_key",
    "get_verify_key",
    "hash_and_sign_event",
    "is_signing_algorithm_supported",
    "key_id",
    "read_signing_keys",
    "room_id_from_create_event",
    "sign_event",
    "sign_json",
    "signing_key_from_seed",
    "verify_event_signature",
    "verify_json",
    "write_signing_key",
]

#: Keys left out of the content hash. The spec lists the first three; the
#: others are fields that old servers put at the top level and never hashed,
#: so leaving them out keeps our hashes equal to theirs.
_CONTENT_HASH_EXCLUDED = ("unsigned", "signatures", "hashes", "age_ts", "outlier", "destinations")


def compute_content_hash(event_dict: Mapping[str, Any]) -> bytes:
    """The SHA-256 content hash of an event.

    Args:
        event_dict: the event in its federation form.

    Returns:
        The raw 32-byte digest.
    """
    hashed = {k: v for k, v in event_dict.items() if k not in _CONTENT_HASH_EXCLUDED}
    return hashlib.sha256(encode_canonical_json(hashed)).digest()


def add_content_hash(event_dict: Mapping[str, Any]) -> JsonDict:
    """Returns a copy of the event with ``hashes.sha256`` set.

    Other algorithms already in ``hashes`` are kept.
    """
    result = dict(event_dict)
    hashes = event_dict.get("hashes")
    new_hashes = dict(hashes) if isinstance(hashes, Mapping) else {}
    new_hashes["sha256"] = encode_base64(compute_content_hash(event_dict))
    result["hashes"] = new_hashes
    return result


def check_content_hash(event_dict: Mapping[str, Any]) -> bool:
    """Whether ``hashes.sha256`` matches the event's content.

    A mismatch on a correctly signed event means the event has been
    redacted (or tampered with): the receiver must keep only its redacted form.

    Returns:
        False when the hash is missing, malformed or different.
    """
    hashes = event_dict.get("hashes")
    if not isinstance(hashes, Mapping):
        return False
    expected = hashes.get("sha256")
    if not isinstance(expected, str):
        return False
    try:
        claimed = decode_base64(expected)
    except Exception:  # binascii.Error and friends: any undecodable value is a mismatch
        return False
    return claimed == compute_content_hash(event_dict)


def compute_reference_hash(event_dict: Mapping[str, Any], room_version: RoomVersion) -> bytes:
    """The SHA-256 reference hash: redact, drop signatures/unsigned, hash.

    Returns:
        The raw 32-byte digest.
    """
    redacted = redact(event_dict, room_version)
    redacted.pop("signatures", None)
    redacted.pop("unsigned", None)
    return hashlib.sha256(encode_canonical_json(redacted)).digest()


def compute_event_id(event_dict: Mapping[str, Any], room_version: RoomVersion) -> EventID:
    """The id of an event in ``room_version``.

    v1/v2 events carry their id in ``event_id``. v3 uses ``$`` + the reference
    hash in standard unpadded base64, v4+ in URL-safe unpadded base64.

    Raises:
        InvalidEvent: a v1/v2 event without a string ``event_id``.
    """
    if room_version.event_format is EventFormat.V1:
        event_id = event_dict.get("event_id")
        if not isinstance(event_id, str):
            raise InvalidEvent("Event has no event_id")
        return EventID(event_id)
    digest = compute_reference_hash(event_dict, room_version)
    if room_version.event_format is EventFormat.V2:
        return EventID("$" + encode_base64(digest))
    return EventID("$" + encode_base64(digest, urlsafe=True))


def room_id_from_create_event(
    create_event_dict: Mapping[str, Any], room_version: RoomVersion
) -> RoomID:
    """The room id that a v12+ ``m.room.create`` event defines.

    It is the create event's id with the sigil ``!`` instead of ``$``.

    Raises:
        ValueError: the room version does not derive room ids from the
            create event.
    """
    if not room_version.room_id_from_create_event:
        raise ValueError(f"Room version {room_version.identifier} has server-assigned room ids")
    return RoomID("!" + compute_event_id(create_event_dict, room_version)[1:])


# --- JSON signatures ----------------------------------------------------------


def key_id(key: SigningKey | VerifyKey) -> str:
    """The key id ``alg:version`` of a key, e.g. ``ed25519:a_AbCd``."""
    return f"{key.alg}:{key.version}"


def sign_json(obj: Mapping[str, Any], server_name: str, signing_key: SigningKey) -> JsonDict:
    """Returns a copy of ``obj`` with our signature added under ``signatures``.

    The signature covers the canonical JSON of ``obj`` without its
    ``signatures`` and ``unsigned`` keys. Signatures already present are kept.
    """
    copy = dict(obj)
    signatures = obj.get("signatures")
    if isinstance(signatures, Mapping):
        copy["signatures"] = {
            name: dict(sigs) if isinstance(sigs, Mapping) else sigs
            for name, sigs in signatures.items()
        }
    result: JsonDict = _sign_json(copy, server_name, signing_key)
    return result


def verify_json(obj: Mapping[str, Any], server_name: str, verify_key: VerifyKey) -> None:
    """Checks ``server_name``'s signature on ``obj`` with ``verify_key``.

    Raises:
        SignatureError: no signature by this key, or it does not verify.
    """
    try:
        verify_signed_json(dict(obj), server_name, verify_key)
    except SignatureVerifyException as e:
        raise SignatureError(str(e)) from e
    except (TypeError, ValueError) as e:
        # A signature that is not a string, or not base64.
        raise SignatureError(f"Malformed signature: {e}") from e


def sign_event(
    event_dict: Mapping[str, Any],
    server_name: str,
    signing_key: SigningKey,
    room_version: RoomVersion,
) -> JsonDict:
    """Returns a copy of the event with our signature over its redacted form.

    The event must already carry its content hash (see ``add_content_hash``
    or ``hash_and_sign_event``).
    """
    redacted = redact(event_dict, room_version)
    redacted.pop("unsigned", None)
    signed = sign_json(redacted, server_name, signing_key)
    result = dict(event_dict)
    result["signatures"] = signed["signatures"]
    return result


def hash_and_sign_event(
    event_dict: Mapping[str, Any],
    server_name: str,
    signing_key: SigningKey,
    room_version: RoomVersion,
) -> JsonDict:
    """Adds the content hash, then signs: what an outgoing event needs."""
    return sign_event(add_content_hash(event_dict), server_name, signing_key, room_version)


def verify_event_signature(
    event_dict: Mapping[str, Any],
    server_name: str,
    verify_key: VerifyKey,
    room_version: RoomVersion,
) -> None:
    """Checks ``server_name``'s signature on an event.

    Works for both the full event and a redacted copy, since the signature
    covers the redacted form. Which servers must have signed, and whether
    the key was valid at ``origin_server_ts``, are the caller's decisions.

    Raises:
        SignatureError: the signature is missing or does not verify.
    """
    verify_json(redact(event_dict, room_version), server_name, verify_key)


# --- Keys and key files -------------------------------------------------------


def signing_key_from_seed(seed: bytes, version: str) -> SigningKey:
    """An ed25519 signing key from its 32-byte seed."""
    key: SigningKey = decode_signing_key_base64("ed25519", version, encode_base64(seed))
    return key


def generate_signing_key(version: str, *, seed: bytes | None = None) -> SigningKey:
    """A new ed25519 signing key.

    Args:
        version: the key version (the part of the key id after ``ed25519:``).
        seed: 32 random bytes from the caller's randomness source. When
            None, the key is drawn from the operating system's CSPRNG.
    """
    if seed is not None:
        return signing_key_from_seed(seed, version)
    key: SigningKey = _generate_signing_key(version)
    return key


def encode_verify_key(verify_key: VerifyKey) -> str:
    """The unpadded base64 public key, as published in ``/_matrix/key/v2``."""
    encoded: str = encode_verify_key_base64(verify_key)
    return encoded


def decode_verify_key(key_id_: str, key_base64: str) -> VerifyKey:
    """A verify key from its key id and unpadded base64 public key.

    Raises:
        SignatureError: unsupported algorithm or malformed key.
    """
    if not is_signing_algorithm_supported(key_id_):
        raise SignatureError(f"Unsupported signing algorithm in key id {key_id_!r}")
    try:
        key: VerifyKey = decode_verify_key_bytes(key_id_, decode_base64(key_base64))
    except Exception as e:  # nacl raises several types for bad key material
        raise SignatureError(f"Malformed verify key {key_id_!r}: {e}") from e
    return key


def read_signing_keys(text: str) -> list[SigningKey]:
    """Parses a signing key file: one ``ed25519 <version> <base64 seed>`` a line.

    Blank lines are skipped.

    Raises:
        ValueError: a line is malformed or names another algorithm.
    """
    keys: list[SigningKey] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3:
            raise ValueError(f"Signing key line {number}: expected 'algorithm version key'")
        alg, version, key_base64 = parts
        if alg != "ed25519":
            raise ValueError(f"Signing key line {number}: unsupported algorithm {alg!r}")
        try:
            seed = decode_base64(key_base64)
        except Exception as e:  # binascii.Error
            raise ValueError(f"Signing key line {number}: invalid base64") from e
        if len(seed) != 32:
            raise ValueError(f"Signing key line {number}: an ed25519 seed is 32 bytes")
        keys.append(signing_key_from_seed(seed, version))
    return keys


def write_signing_key(key: SigningKey) -> str:
    """Serialises a signing key as one key file line (with a newline)."""
    return f"{key.alg} {key.version} {encode_signing_key_base64(key)}\n"
