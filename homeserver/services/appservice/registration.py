"""Application service registration files (Synapse's YAML format).

A registration names the appservice (``id``), where the homeserver pushes to
(``url``, None for an appservice that only talks to us), the two tokens
(``as_token``: the appservice authenticates to us; ``hs_token``: we
authenticate to it), the localpart of its sender user and the namespaces of
users, aliases and rooms it is interested in. Unknown keys are ignored (other
servers' extensions); known keys are checked strictly, and every problem names
the file and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from homeserver.config.load import ConfigError
from homeserver.core.ids import is_valid_localpart


class NamespaceEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    exclusive: bool = False
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from e
        return v


class Namespaces(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    users: list[NamespaceEntry] = Field(default_factory=list)
    aliases: list[NamespaceEntry] = Field(default_factory=list)
    rooms: list[NamespaceEntry] = Field(default_factory=list)


class Registration(BaseModel):
    """One appservice registration, as written in its YAML file."""

    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True, frozen=True)

    id: str = Field(min_length=1)
    url: str | None
    as_token: str = Field(min_length=1)
    hs_token: str = Field(min_length=1)
    sender_localpart: str = Field(min_length=1)
    namespaces: Namespaces = Field(default_factory=Namespaces)
    rate_limited: bool = True
    protocols: list[str] = Field(default_factory=list)
    receive_ephemeral: bool = False
    #: MSC3202: to-device messages, device lists and OTK counts for its users,
    #: and ``device_id`` masquerading.
    msc3202: bool = Field(False, alias="org.matrix.msc3202")
    #: MSC4190: the appservice manages its users' devices itself.
    msc4190: bool = Field(False, alias="io.element.msc4190")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http(s) URL or null")
        return v.rstrip("/") if v is not None else None

    @field_validator("sender_localpart")
    @classmethod
    def _localpart(cls, v: str) -> str:
        if not is_valid_localpart(v):
            raise ValueError("not a valid user localpart")
        return v


def _problems(path: str, error: ValidationError) -> list[str]:
    out = []
    for err in error.errors():
        field = ".".join(str(part) for part in err["loc"]) or "(file)"
        out.append(f"{path}: {field}: {err['msg']}")
    return out


def parse_registration(path: str, data: Any) -> Registration:
    """Validates one parsed registration file.

    Raises:
        ConfigError: every problem, each naming ``path`` and the field.
    """
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the file must hold a YAML mapping"])
    try:
        return Registration.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_problems(path, e)) from e


def load_registrations(paths: list[str]) -> list[Registration]:
    """Reads and validates every registration file; all or nothing.

    Raises:
        ConfigError: an unreadable or invalid file, or two registrations
            sharing an id or an as_token.
    """
    problems: list[str] = []
    out: list[Registration] = []
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            problems.append(f"{path}: cannot read the registration: {e}")
            continue
        try:
            out.append(parse_registration(path, data))
        except ConfigError as e:
            problems.extend(e.problems)
    seen_ids: set[str] = set()
    seen_tokens: set[str] = set()
    for reg in out:
        if reg.id in seen_ids:
            problems.append(f"id: {reg.id!r} is used by two registrations")
        if reg.as_token in seen_tokens:
            problems.append(f"as_token: the registration {reg.id!r} reuses another's as_token")
        seen_ids.add(reg.id)
        seen_tokens.add(reg.as_token)
    if problems:
        raise ConfigError(problems)
    return out
