"""The shared-secret registration MAC matches the published protocol."""

from __future__ import annotations

from homeserver.services.accounts.shared_secret import registration_mac


def test_mac_known_vector_notadmin() -> None:
    # HMAC-SHA1(key="secret", "abc\0bob\0pw\0notadmin"), computed with openssl.
    assert registration_mac("secret", "abc", "bob", "pw", False, None) == (
        "8ea9b87daa4e529ce4a0832f09be19bbe837a0af"
    )


def test_mac_user_type_changes_the_mac() -> None:
    plain = registration_mac("secret", "abc", "bob", "pw", True, None)
    typed = registration_mac("secret", "abc", "bob", "pw", True, "bot")
    assert plain != typed
