"""Bridge configuration: YAML → pydantic models, unknown keys refused.

Every bridge config has ``homeserver`` and ``appservice`` sections; a bridge
adds its own section by subclassing ``BridgeConfig``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from homeserver.core.ids import is_valid_localpart

_URL = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HomeserverSection(Section):
    url: str = Field(description="Base URL of the homeserver's Client-Server API.")
    domain: str = Field(description="The server name in user IDs (the part after ':').")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not _URL.match(value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


class AppserviceSection(Section):
    id: str = Field(description="The registration's unique id.")
    address: str = Field(description="The URL the homeserver uses to reach this service.")
    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=29300, ge=0, le=65535, description="Port to listen on.")
    as_token: str = Field(default="", description="Token we send to the homeserver.")
    hs_token: str = Field(default="", description="Token the homeserver sends to us.")
    bot_localpart: str = Field(description="Localpart of the bot (registration sender).")
    user_prefix: str = Field(description="Localpart prefix of the ghost users we own.")
    database: str = Field(description="sqlite:///path.db or postgresql://… for the state store.")

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        if not _URL.match(value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("bot_localpart", "user_prefix")
    @classmethod
    def _check_localpart(cls, value: str) -> str:
        if not value or not is_valid_localpart(value):
            raise ValueError("must be a non-empty lowercase user ID localpart")
        return value


class BridgeConfig(Section):
    homeserver: HomeserverSection
    appservice: AppserviceSection


class ConfigProblem(ValueError):
    """The config file can't be used; the message lists every problem."""


C = TypeVar("C", bound=BridgeConfig)


def parse_config(model: type[C], data: Any, source: str = "config") -> C:
    """Validates a parsed YAML document, reporting every problem at once.

    Raises:
        ConfigProblem: the document is not a valid config for ``model``.
    """
    if not isinstance(data, dict):
        raise ConfigProblem(f"{source}: expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = [
            f"{source}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        ]
        raise ConfigProblem("\n".join(problems)) from None


def load_config(model: type[C], path: str | Path) -> C:
    """Reads and validates a YAML config file (see ``parse_config``)."""
    text = Path(path).read_text(encoding="utf-8")
    return parse_config(model, yaml.safe_load(text), str(path))
