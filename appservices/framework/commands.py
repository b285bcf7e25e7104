"""Room commands: ``!prefix verb args...`` routed to async handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandEvent:
    room_id: str
    sender: str
    event_id: str
    verb: str
    args: str  # the rest of the line after the verb, stripped


CommandHandler = Callable[[CommandEvent], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class _Command:
    handler: CommandHandler
    usage: str
    help: str


class CommandRouter:
    """Dispatches ``{prefix} {verb} {args}`` lines; a handler's returned text is the reply."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._commands: dict[str, _Command] = {}

    def add(self, verb: str, handler: CommandHandler, usage: str = "", help: str = "") -> None:
        self._commands[verb.lower()] = _Command(handler, usage, help)

    def parse(self, body: str) -> tuple[str, str] | None:
        """``(verb, args)`` when ``body`` is addressed to us, else None."""
        first, _, rest = body.strip().partition(" ")
        if first.lower() != self.prefix:
            return None
        verb, _, args = rest.strip().partition(" ")
        return verb.lower(), args.strip()

    def help_text(self) -> str:
        lines = [f"Commands ({self.prefix} <command>):"]
        for verb, cmd in sorted(self._commands.items()):
            usage = f" {cmd.usage}" if cmd.usage else ""
            lines.append(f"{self.prefix} {verb}{usage}: {cmd.help}")
        return "\n".join(lines)

    async def dispatch(self, room_id: str, sender: str, event_id: str, body: str) -> str | None:
        """Runs the command in ``body``; returns the reply text, or None when not a command."""
        parsed = self.parse(body)
        if parsed is None:
            return None
        verb, args = parsed
        command = self._commands.get(verb)
        if command is None:
            return (
                self.help_text()
                if verb in ("", "help")
                else (f"Unknown command {verb!r}. Try {self.prefix} help.")
            )
        return await command.handler(CommandEvent(room_id, sender, event_id, verb, args))
