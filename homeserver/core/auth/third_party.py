"""Verifying the ``signed`` block of an invite made through a third-party ID.

An identity server signs ``{"mxid", "token", ...}`` with one of the public keys
that the inviter put in the room's ``m.room.third_party_invite`` event. The
check is pure (no key fetching): the candidate keys come from that event.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import nacl.exceptions
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import SignatureVerifyException, verify_signed_json
from unpaddedbase64 import decode_base64

#: ``(signed, public_key) -> bool``: whether any signature in ``signed``
#: verifies with ``public_key`` (unpadded base64 of an ed25519 key).
ThirdPartySignatureVerifier = Callable[[Mapping[str, Any], str], bool]


def verify_third_party_signature(signed: Mapping[str, Any], public_key: str) -> bool:
    """Whether any ed25519 signature in ``signed`` verifies with ``public_key``.

    Args:
        signed: the ``content.third_party_invite.signed`` object of an invite.
        public_key: a key from the ``m.room.third_party_invite`` event, in
            unpadded (standard or URL-safe) base64.

    Returns:
        True when one signature verifies, False otherwise (including when the
        key or the signatures are malformed).
    """
    try:
        key_bytes = decode_base64(public_key.replace("-", "+").replace("_", "/"))
    except (binascii.Error, ValueError):
        return False
    signatures = signed.get("signatures")
    if not isinstance(signatures, dict):
        return False
    for server, by_key in signatures.items():
        if not isinstance(by_key, dict):
            continue
        for key_id in by_key:
            if not isinstance(key_id, str) or not key_id.startswith("ed25519:"):
                continue
            try:
                verify_key = decode_verify_key_bytes(key_id, key_bytes)
                verify_signed_json(dict(signed), server, verify_key)
            except (SignatureVerifyException, nacl.exceptions.CryptoError, ValueError):
                continue
            return True
    return False


def public_keys_of(third_party_invite_content: Mapping[str, Any]) -> Iterator[str]:
    """The public keys of an ``m.room.third_party_invite`` event's content.

    Yields ``public_key`` and each ``public_keys[].public_key``, skipping
    malformed entries.
    """
    single = third_party_invite_content.get("public_key")
    if isinstance(single, str):
        yield single
    many = third_party_invite_content.get("public_keys")
    if isinstance(many, list):
        for entry in many:
            if isinstance(entry, dict) and isinstance(entry.get("public_key"), str):
                yield entry["public_key"]
