"""The ``ai`` config section."""

from __future__ import annotations

from pydantic import Field

from appservices.framework.config import BridgeConfig, Section


class AiSection(Section):
    base_url: str = Field(
        description="OpenAI-compatible API base, e.g. http://127.0.0.1:8080/v1 for a local server."
    )
    model: str = Field(description="The model name the server expects.")
    api_key: str = Field(default="", description="Bearer key; empty for servers without one.")
    system_prompt: str = Field(
        default="You are a helpful assistant in a Matrix chat room. Answer concisely.",
        description="The system message sent first.",
    )
    display_name: str = Field(default="AI assistant", description="The bot's display name.")
    context_messages: int = Field(
        default=20, ge=1, le=500, description="How many recent room messages are sent."
    )
    stream: bool = Field(default=True, description="Ask for a streamed answer and edit it in.")
    edit_interval_s: float = Field(
        default=1.0, ge=0, description="Least time between two edits of a streaming answer."
    )
    request_timeout_s: float = Field(default=120, gt=0, description="Timeout of one LLM call.")
    max_tokens: int | None = Field(default=None, ge=1, description="Answer length limit.")


class AiBotConfig(BridgeConfig):
    ai: AiSection
