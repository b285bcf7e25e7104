"""Matrix identifiers: NewTypes over ``str`` and the parsers that create them.

Every identifier that enters the server from outside goes through one of the
``parse_*`` functions, which check the grammar of the spec appendix
("Identifier Grammar") and return the matching NewType. They raise
``InvalidIdentifier`` on a malformed value and never normalise (server names
and ids are case-sensitive).

User ids come in two grammars: the one for new users (``a-z 0-9 . _ = - / +``)
and the historical one that servers must still accept from federation (any
code point but ``:`` and NUL, even an empty localpart). ``parse_user_id``
checks the first by default and the second with ``strict=False``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NewType

from homeserver.core.errors import InvalidIdentifier

UserID = NewType("UserID", str)
RoomID = NewType("RoomID", str)
EventID = NewType("EventID", str)
RoomAlias = NewType("RoomAlias", str)
ServerName = NewType("ServerName", str)
DeviceID = NewType("DeviceID", str)

#: The spec limit, in UTF-8 bytes, on user ids, room ids, aliases and event ids.
MAX_ID_BYTES = 255

_LOCALPART_RE = re.compile(r"[a-z0-9._=\-/+]+")
_IPV4_RE = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_DNS_NAME_RE = re.compile(r"[A-Za-z0-9\-.]{1,255}")
_IPV6_CHARS_RE = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_PORT_RE = re.compile(r"[0-9]{1,5}")
#: A reference hash in unpadded base64 (standard or URL-safe alphabet): 32 bytes.
_HASH_ID_RE = re.compile(r"[A-Za-z0-9+/_\-]{43}")
#: v12 room ids: the create event's reference hash in URL-safe unpadded base64.
_ROOM_HASH_RE = re.compile(r"[A-Za-z0-9_\-]{43}")


def is_valid_localpart(localpart: str) -> bool:
    """Whether ``localpart`` is allowed for a *new* user id.

    Args:
        localpart: the part of a user id between ``@`` and ``:``.

    Returns:
        True if it is non-empty and uses only ``a-z 0-9 . _ = - / +``.
    """
    return _LOCALPART_RE.fullmatch(localpart) is not None


def _is_historical_localpart(localpart: str) -> bool:
    # Any non-surrogate code point except ":" and NUL; may be empty.
    return not any(c in ":\x00" or "\ud800" <= c <= "\udfff" for c in localpart)


def split_server_name(server_name: str) -> tuple[str, int | None]:
    """Splits a server name into host and port, checking the grammar.

    Args:
        server_name: ``hostname [ ":" port ]`` where hostname is a DNS name,
            a dotted-quad IPv4 literal or a bracketed IPv6 literal.

    Returns:
        The host (IPv6 literals keep their brackets) and the port, or None.

    Raises:
        InvalidIdentifier: the value is not a server name.
    """
    host = server_name
    port: int | None = None
    if server_name.startswith("["):
        end = server_name.find("]")
        if end < 0:
            raise InvalidIdentifier(f"Unterminated IPv6 literal in server name {server_name!r}")
        host = server_name[: end + 1]
        rest = server_name[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise InvalidIdentifier(f"Junk after IPv6 literal in server name {server_name!r}")
            port = _parse_port(rest[1:], server_name)
        literal = host[1:-1]
        if _IPV6_CHARS_RE.fullmatch(literal) is None:
            raise InvalidIdentifier(f"Invalid IPv6 literal in server name {server_name!r}")
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            raise InvalidIdentifier(
                f"Invalid IPv6 literal in server name {server_name!r}"
            ) from None
        return host, port
    if ":" in server_name:
        host, _, port_text = server_name.rpartition(":")
        port = _parse_port(port_text, server_name)
    if _IPV4_RE.fullmatch(host) is not None:
        if any(int(part) > 255 for part in host.split(".")):
            raise InvalidIdentifier(f"Invalid IPv4 literal in server name {server_name!r}")
    elif _DNS_NAME_RE.fullmatch(host) is None:
        raise InvalidIdentifier(f"Invalid host in server name {server_name!r}")
    return host, port


def _parse_port(text: str, server_name: str) -> int:
    if _PORT_RE.fullmatch(text) is None or not 1 <= int(text) <= 65535:
        raise InvalidIdentifier(f"Invalid port in server name {server_name!r}")
    return int(text)


def parse_server_name(value: str) -> ServerName:
    """Checks the server name grammar.

    Args:
        value: e.g. ``matrix.org``, ``1.2.3.4:8448``, ``[::1]:8448``.

    Returns:
        The value as a ``ServerName``.

    Raises:
        InvalidIdentifier: not a server name.
    """
    split_server_name(value)
    return ServerName(value)


def _check_length(value: str, kind: str) -> None:
    if len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        raise InvalidIdentifier(f"{kind} is longer than {MAX_ID_BYTES} bytes")


def _split_sigil_id(value: str, sigil: str, kind: str) -> tuple[str, str]:
    """Splits ``sigil localpart ":" domain``, checking length and domain."""
    if not value.startswith(sigil):
        raise InvalidIdentifier(f"{kind} must start with {sigil!r}: {value!r}")
    _check_length(value, kind)
    local, sep, domain = value[1:].partition(":")
    if not sep:
        raise InvalidIdentifier(f"{kind} has no server name: {value!r}")
    split_server_name(domain)
    return local, domain


def parse_user_id(value: str, *, strict: bool = True) -> UserID:
    """Checks the user id grammar.

    Args:
        value: ``@localpart:server_name``.
        strict: check the localpart against the grammar for new users
            (``a-z 0-9 . _ = - / +``, non-empty). With False, accept the
            historical grammar that events over federation may still use.

    Returns:
        The value as a ``UserID``.

    Raises:
        InvalidIdentifier: not a user id, or longer than 255 bytes.
    """
    local, _ = _split_sigil_id(value, "@", "User ID")
    ok = is_valid_localpart(local) if strict else _is_historical_localpart(local)
    if not ok:
        raise InvalidIdentifier(f"Invalid user ID localpart: {value!r}")
    return UserID(value)


def parse_room_id(value: str) -> RoomID:
    """Checks the room id grammar, in both of its forms.

    Rooms before v12 have ``!opaque:server_name`` ids; v12 rooms have
    ``!`` + the create event's reference hash (43 URL-safe base64 characters)
    and no server name.

    Args:
        value: the room id.

    Returns:
        The value as a ``RoomID``.

    Raises:
        InvalidIdentifier: not a room id, or longer than 255 bytes.
    """
    if value.startswith("!") and ":" not in value:
        if _ROOM_HASH_RE.fullmatch(value[1:]) is None:
            raise InvalidIdentifier(f"Invalid room ID: {value!r}")
        return RoomID(value)
    local, _ = _split_sigil_id(value, "!", "Room ID")
    if not local or not _is_historical_localpart(local):
        raise InvalidIdentifier(f"Invalid room ID: {value!r}")
    return RoomID(value)


def parse_event_id(value: str) -> EventID:
    """Checks the event id grammar of any room version.

    v1/v2 event ids are ``$opaque:server_name``; later versions use ``$`` +
    the reference hash in unpadded base64 (standard alphabet in v3, URL-safe
    from v4), which never contains ``:``.

    Args:
        value: the event id.

    Returns:
        The value as an ``EventID``.

    Raises:
        InvalidIdentifier: not an event id, or longer than 255 bytes.
    """
    if value.startswith("$") and ":" not in value:
        if _HASH_ID_RE.fullmatch(value[1:]) is None:
            raise InvalidIdentifier(f"Invalid event ID: {value!r}")
        return EventID(value)
    local, _ = _split_sigil_id(value, "$", "Event ID")
    if not local or not _is_historical_localpart(local):
        raise InvalidIdentifier(f"Invalid event ID: {value!r}")
    return EventID(value)


def parse_room_alias(value: str) -> RoomAlias:
    """Checks the room alias grammar (``#localpart:server_name``).

    Args:
        value: the alias.

    Returns:
        The value as a ``RoomAlias``.

    Raises:
        InvalidIdentifier: not an alias, or longer than 255 bytes.
    """
    local, _ = _split_sigil_id(value, "#", "Room alias")
    if not _is_historical_localpart(local):
        raise InvalidIdentifier(f"Invalid room alias: {value!r}")
    return RoomAlias(value)


def parse_device_id(value: str) -> DeviceID:
    """Checks a device id: the spec gives no grammar beyond non-empty.

    Raises:
        InvalidIdentifier: the value is empty.
    """
    if not value:
        raise InvalidIdentifier("Device ID is empty")
    return DeviceID(value)


def make_user_id(localpart: str, server_name: ServerName, *, strict: bool = True) -> UserID:
    """Builds ``@localpart:server_name`` and checks the result.

    Raises:
        InvalidIdentifier: the result is not a valid user id.
    """
    return parse_user_id(f"@{localpart}:{server_name}", strict=strict)


def localpart(user_id: UserID | RoomAlias) -> str:
    """The localpart of a user id or room alias (between sigil and ``:``)."""
    return user_id[1:].partition(":")[0]


def server_name_of(identifier: str) -> ServerName:
    """The server name part of an identifier that has one.

    Args:
        identifier: a user id, alias, or a room/event id in the domain form.

    Returns:
        Everything after the first ``:``.

    Raises:
        InvalidIdentifier: the identifier has no server name (v12 room ids and
            v3+ event ids).
    """
    _, sep, domain = identifier.partition(":")
    if not sep:
        raise InvalidIdentifier(f"{identifier!r} has no server name")
    return ServerName(domain)
