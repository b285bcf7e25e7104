"""Loading the configuration from YAML and the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from homeserver.config.model import Config

ENV_PREFIX = "HS_"


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every error with its key path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turns ``HS_A__B=value`` into ``{"a": {"b": value}}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "HS_CONFIG":
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                break
        else:
            node[path[-1]] = value
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            base[k] = _merge(base[k], v)
        else:
            base[k] = v
    return base


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Loads and validates the configuration.

    Args:
        path: a YAML file; None means defaults plus environment only.
        environ: environment to read ``HS_*`` overrides from (default os.environ).
        overrides: values that win over both (used by tests and the CLI).

    Raises:
        ConfigError: with every problem found, each with its key path.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError([f"cannot read {path}: {e.strerror}"]) from e
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError([f"{path}: not valid YAML: {e}"]) from e
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError([f"{path}: the top level must be a mapping"])
        data = loaded
    _merge(data, _env_overrides(os.environ if environ is None else environ))
    if overrides:
        _merge(data, overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{loc}: {err['msg']}")
        raise ConfigError(problems) from e


def _describe(model: type[BaseModel], prefix: str, lines: list[str]) -> None:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            lines.append(f"| `{key}` | section | {field.description or ''} |")
            _describe(ann, key + ".", lines)
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump()
        elif isinstance(default, list) and default and isinstance(default[0], BaseModel):
            default = [d.model_dump() for d in default]
        shown = "(required)" if field.is_required() else f"`{yaml.safe_dump(default, default_flow_style=True).strip().removesuffix('...').strip()}`"
        lines.append(f"| `{key}` | {shown} | {field.description or ''} |")


def config_docs() -> str:
    """Markdown table of every option (docs/config.md is this text)."""
    from homeserver.config.model import ListenerConfig, RateLimit

    lines = [
        "# Configuration reference",
        "",
        "Generated from `homeserver/config/model.py` by `homeserver config-docs`; a test keeps",
        "it in sync. Every key can also be set from the environment: `HS_<KEY>` with `__`",
        "between nesting levels, e.g. `HS_SERVER_NAME=example.org`,",
        "`HS_REGISTRATION__ENABLED=true`, `HS_DATABASE__URL=postgresql://...`. Values are",
        "parsed as YAML scalars; environment values win over the file.",
        "",
        "| key | default | meaning |",
        "| --- | --- | --- |",
    ]
    _describe(Config, "", lines)
    for sub, title in ((ListenerConfig, "listeners[]"), (RateLimit, "rate_limits.<kind>")):
        lines += ["", f"## `{title}`", "", "| key | default | meaning |", "| --- | --- | --- |"]
        _describe(sub, "", lines)
    return "\n".join(lines) + "\n"


def dump_example(config: Config) -> str:
    """A YAML file with every value of ``config`` (used by ``homeserver init``)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
