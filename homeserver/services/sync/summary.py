"""The room ``summary``: ``m.heroes`` and member counts (spec "Calculating
the display name for a room")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_HEROES = 5


def room_summary(memberships: Mapping[str, str], viewer: str) -> dict[str, Any]:
    """The summary from a room's ``user → membership`` map.

    Heroes are the first joined or invited members other than the viewer, by
    user id; when there are none, those who left or were banned.
    """
    joined = sum(1 for m in memberships.values() if m == "join")
    invited = sum(1 for m in memberships.values() if m == "invite")
    present = sorted(u for u, m in memberships.items() if u != viewer and m in ("join", "invite"))
    heroes = present or sorted(
        u for u, m in memberships.items() if u != viewer and m in ("leave", "ban")
    )
    return {
        "m.heroes": heroes[:MAX_HEROES],
        "m.joined_member_count": joined,
        "m.invited_member_count": invited,
    }
