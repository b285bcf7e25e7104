"""Identifier grammar: parse_* accept what the spec allows and nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from unpaddedbase64 import encode_base64

from homeserver.core.errors import InvalidIdentifier
from homeserver.core.ids import (
    is_valid_localpart,
    localpart,
    make_user_id,
    parse_device_id,
    parse_event_id,
    parse_room_alias,
    parse_room_id,
    parse_server_name,
    parse_user_id,
    server_name_of,
    split_server_name,
)


@pytest.mark.parametrize(
    ("value", "host", "port"),
    [
        ("matrix.org", "matrix.org", None),
        ("matrix.org:8888", "matrix.org", 8888),
        ("1.2.3.4", "1.2.3.4", None),
        ("1.2.3.4:1234", "1.2.3.4", 1234),
        ("[1234:5678::abcd]", "[1234:5678::abcd]", None),
        ("[1234:5678::abcd]:5678", "[1234:5678::abcd]", 5678),
        ("localhost:65535", "localhost", 65535),
        ("Example-Host.COM", "Example-Host.COM", None),
    ],
)
def test_split_server_name_accepts_spec_examples(value: str, host: str, port: int | None) -> None:
    assert split_server_name(value) == (host, port)
    assert parse_server_name(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "matrix.org:",
        "matrix.org:0",
        "matrix.org:65536",
        "matrix.org:123456",
        "matrix.org:80a",
        "1.2.3.256",
        "[1234:5678::abcd",
        "[not-ipv6]",
        "[1:2:3:4:5:6:7:8:9]",
        "[::1]x",
        "::1",
        "exa mple.org",
        "example.org/path",
        "ex_ample.org",
        "a" * 256,
    ],
)
def test_parse_server_name_rejects_malformed(value: str) -> None:
    with pytest.raises(InvalidIdentifier):
        parse_server_name(value)


def test_parse_user_id_accepts_spec_grammar() -> None:
    assert (
        parse_user_id("@alice.b_c=d-e/f+g:example.org:8448")
        == "@alice.b_c=d-e/f+g:example.org:8448"
    )


@pytest.mark.parametrize(
    "value",
    ["@Alice:example.org", "@:example.org", "@al ice:example.org", "@alice", "alice:example.org"],
)
def test_parse_user_id_rejects_non_compliant_when_strict(value: str) -> None:
    with pytest.raises(InvalidIdentifier):
        parse_user_id(value)


@pytest.mark.parametrize(
    "value", ["@Alice:example.org", "@:example.org", "@al ice\x07:example.org"]
)
def test_parse_user_id_accepts_historical_when_lenient(value: str) -> None:
    assert parse_user_id(value, strict=False) == value


@pytest.mark.parametrize("value", ["@a\x00b:example.org", "@a\ud800:example.org", "@a:bad host"])
def test_parse_user_id_rejects_nul_surrogates_and_bad_domain_even_lenient(value: str) -> None:
    with pytest.raises(InvalidIdentifier):
        parse_user_id(value, strict=False)


def test_parse_user_id_rejects_over_255_bytes() -> None:
    suffix = ":example.org"
    exact = "@" + "a" * (255 - 1 - len(suffix)) + suffix
    assert len(exact) == 255
    assert parse_user_id(exact) == exact
    with pytest.raises(InvalidIdentifier):
        parse_user_id("@a" + exact[1:])


def test_parse_user_id_counts_bytes_not_characters() -> None:
    suffix = ":example.org"
    value = "@" + "é" * 122 + suffix  # 244 + 13 = 257 bytes, 135 characters
    with pytest.raises(InvalidIdentifier):
        parse_user_id(value, strict=False)


@pytest.mark.parametrize(
    "value",
    [
        "!abcDEF123:example.org",
        "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ",
        "!room:[::1]:8448",
    ],
)
def test_parse_room_id_accepts_both_forms(value: str) -> None:
    assert parse_room_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "!abc",
        "!:example.org",
        "#abc:example.org",
        "!Nhcu5BS+UMnFX7hBVfVSoXiD7OgH6iRT/xyIuqDnpYQ",
        "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpY",
        "!abc:",
    ],
)
def test_parse_room_id_rejects_malformed(value: str) -> None:
    with pytest.raises(InvalidIdentifier):
        parse_room_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "$a4ecee13e2accdadf56c1025:example.com",
        "$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk",
        "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg",
    ],
)
def test_parse_event_id_accepts_every_format(value: str) -> None:
    assert parse_event_id(value) == value


@pytest.mark.parametrize("value", ["$short", "$:example.org", "!abc:example.org", "$a b", ""])
def test_parse_event_id_rejects_malformed(value: str) -> None:
    with pytest.raises(InvalidIdentifier):
        parse_event_id(value)


def test_parse_room_alias_accepts_unicode_localpart() -> None:
    assert parse_room_alias("#Café Room:example.org") == "#Café Room:example.org"


@pytest.mark.parametrize("value", ["#nodomain", "@user:example.org", "#a\x00:example.org"])
def test_parse_room_alias_rejects_malformed(value: str) -> None:
    with pytest.raises(InvalidIdentifier):
        parse_room_alias(value)


def test_parse_device_id_rejects_empty() -> None:
    assert parse_device_id("ABCDEF") == "ABCDEF"
    with pytest.raises(InvalidIdentifier):
        parse_device_id("")


def test_localpart_and_server_name_of_split_at_first_colon() -> None:
    user_id = parse_user_id("@alice:example.org:8448")
    assert localpart(user_id) == "alice"
    assert server_name_of(user_id) == "example.org:8448"
    assert server_name_of("!room:[::1]:80") == "[::1]:80"


def test_server_name_of_rejects_domainless_ids() -> None:
    with pytest.raises(InvalidIdentifier):
        server_name_of("!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ")


@pytest.mark.parametrize(
    ("value", "ok"), [("abc", True), ("a.b_c", True), ("", False), ("A", False)]
)
def test_is_valid_localpart_follows_new_user_grammar(value: str, ok: bool) -> None:
    assert is_valid_localpart(value) is ok


_localparts = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789._=-/+", min_size=1, max_size=40
)
_labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
_server_names = st.builds(
    lambda labels, port: ".".join(labels) + (f":{port}" if port is not None else ""),
    st.lists(_labels, min_size=1, max_size=4),
    st.none() | st.integers(min_value=1, max_value=65535),
)


@given(_localparts, _server_names)
def test_user_id_round_trips_through_parts(local: str, server: str) -> None:
    user_id = make_user_id(local, parse_server_name(server))
    assert localpart(user_id) == local
    assert server_name_of(user_id) == server
    assert parse_user_id(str(user_id)) == user_id


@given(st.binary(min_size=32, max_size=32))
def test_hash_room_and_event_ids_parse(digest: bytes) -> None:
    assert parse_room_id("!" + encode_base64(digest, urlsafe=True))
    assert parse_event_id("$" + encode_base64(digest, urlsafe=True))
    assert parse_event_id("$" + encode_base64(digest))
