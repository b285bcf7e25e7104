"""Stream tokens (``/sync`` ``since``/``next_batch``) and room pagination tokens.

A ``StreamToken`` carries one position per stream. Its text form is
``s<room>_<account_data>_<receipts>_<typing>_<to_device>_<device_lists>_<presence>_<push>``;
parsing accepts fewer fields (missing ones are 0) so tokens stay valid when
streams are added at the end, and positions only ever go forward.

A ``RoomPosition`` is a point in one room's history: ``t<depth>-<stream>``
(topological, from ``/messages``) or ``s<stream>`` (a stream position, e.g. a
sync ``prev_batch``). Both forms are accepted wherever a pagination token is.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from homeserver.core.errors import CoreError


class InvalidToken(CoreError, ValueError):
    """A token that this server did not issue or cannot read."""


#: Positions are stored as signed 64-bit integers (BIGINT).
_MAX_POSITION = 2**63 - 1


def _position(part: str, text: str) -> int:
    if not part.isdigit() or len(part) > 19 or int(part) > _MAX_POSITION:
        raise InvalidToken(f"invalid token {text[:40]!r}")
    return int(part)


@dataclass(frozen=True, slots=True)
class StreamToken:
    room: int = 0
    account_data: int = 0
    receipts: int = 0
    typing: int = 0
    to_device: int = 0
    device_lists: int = 0
    presence: int = 0
    push: int = 0

    def encode(self) -> str:
        return "s" + "_".join(str(getattr(self, f.name)) for f in fields(self))

    @classmethod
    def parse(cls, text: str) -> StreamToken:
        if not text.startswith("s") or len(text) > 512:
            raise InvalidToken(f"invalid stream token {text[:40]!r}")
        parts = text[1:].split("_")
        names = [f.name for f in fields(cls)]
        if len(parts) > len(names):
            raise InvalidToken("invalid stream token: too many positions")
        values: dict[str, int] = {}
        for name, part in zip(names, parts, strict=False):
            values[name] = _position(part, text)
        return cls(**values)

    def advance(self, **positions: int) -> StreamToken:
        """A copy with the given positions moved forward (never backward)."""
        return replace(self, **{k: max(v, getattr(self, k)) for k, v in positions.items()})

    def is_after(self, other: StreamToken) -> bool:
        """True when any position of ``self`` is ahead of ``other``."""
        return any(getattr(self, f.name) > getattr(other, f.name) for f in fields(self))


@dataclass(frozen=True, slots=True, order=True)
class RoomPosition:
    """A point in a room's history: between events, ordered by (depth, stream)."""

    depth: int | None
    stream: int

    def encode(self) -> str:
        if self.depth is None:
            return f"s{self.stream}"
        return f"t{self.depth}-{self.stream}"

    @classmethod
    def parse(cls, text: str) -> RoomPosition:
        """Reads ``t<depth>-<stream>``, ``s<stream>`` or a full StreamToken (its room position)."""
        if text.startswith("t"):
            depth, sep, stream = text[1:].partition("-")
            if sep:
                return cls(_position(depth, text), _position(stream, text))
            raise InvalidToken(f"invalid pagination token {text[:40]!r}")
        return cls(None, StreamToken.parse(text).room)
