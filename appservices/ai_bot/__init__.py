"""ai_bot: an assistant user that answers with any OpenAI-compatible LLM server.

- The bot (the registration's sender) joins rooms it is invited to. It answers
  a message that mentions it (``m.mentions``, its user ID or its name) and
  every message in a direct chat (a room flagged ``is_direct`` at invite time,
  or with only the bot and one other member).
- It keeps the recent messages of each room (in memory, ``context_messages``
  of them) and sends them with every request, so it follows the conversation.
- It calls ``POST {base_url}/chat/completions`` (OpenAI's shape, which llama.cpp,
  vLLM, Ollama and others also serve) with ``stream: true``. The answer appears as
  one message that grows through ``m.replace`` edits; a server that does not
  stream gets one message.
- When the LLM server fails, the room gets a short apology, never silence.

No model runs here: the bot only talks HTTP to the configured server.
Modules: ``config.py`` (the ``ai`` section), ``llm.py`` (the ``LLMProvider``
protocol and the OpenAI-compatible client), ``context.py`` (per-room history),
``bridge.py`` (the bot).
"""

from __future__ import annotations

from appservices.ai_bot.bridge import AiBot
from appservices.ai_bot.config import AiBotConfig


def create_bridge(config: AiBotConfig) -> AiBot:
    """The entry point (group ``homeserver.appservices``)."""
    return AiBot(config)


__all__ = ["AiBot", "AiBotConfig", "create_bridge"]
