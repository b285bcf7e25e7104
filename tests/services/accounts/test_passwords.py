"""Password hashing and policy."""

from __future__ import annotations

import pytest

from homeserver.core.errors import InvalidParam, WeakPassword
from homeserver.services.accounts.passwords import PasswordHasher


async def test_hash_verifies_only_the_right_password() -> None:
    hasher = PasswordHasher()
    hashed = await hasher.hash("hunter2-hunter2")
    assert hashed.startswith("$argon2id$")
    assert await hasher.verify(hashed, "hunter2-hunter2") is True
    assert await hasher.verify(hashed, "hunter3-hunter3") is False


async def test_verify_without_hash_is_false() -> None:
    assert await PasswordHasher().verify(None, "anything") is False


async def test_verify_garbage_hash_is_false() -> None:
    assert await PasswordHasher().verify("not-a-phc-string", "anything") is False


def test_policy_rejects_short_password() -> None:
    with pytest.raises(WeakPassword):
        PasswordHasher(min_length=8).check_policy("1234567")


def test_policy_rejects_nul_and_overlong_password() -> None:
    hasher = PasswordHasher(min_length=1)
    with pytest.raises(InvalidParam):
        hasher.check_policy("a\x00b")
    with pytest.raises(InvalidParam):
        hasher.check_policy("a" * 513)


def test_policy_accepts_long_enough_password() -> None:
    PasswordHasher(min_length=8).check_policy("12345678")
