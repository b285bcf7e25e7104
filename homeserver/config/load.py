"""Loading the configuration from YAML and the environment."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

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


def _yaml_scalar(value: Any) -> str:
    """One value as inline YAML (flow style, never wrapped)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, sort_keys=False)
    return text.strip().removesuffix("...").strip()


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    if get_origin(annotation) is list:
        (item,) = get_args(annotation) or (None,)
        return _model_of(item)
    return None


def _choices(annotation: Any) -> list[Any]:
    """The allowed values of a Literal field (or of a list of Literals)."""
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    return []


def _meaning(field: FieldInfo) -> str:
    text = field.description or ""
    choices = _choices(field.annotation)
    if choices:
        text += " One of: " + ", ".join(f"`{c}`" for c in choices) + "."
    return text


def _describe(model: type[BaseModel], prefix: str, lines: list[str]) -> None:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _model_of(field.annotation)
        if sub is not None:
            lines.append(f"| `{key}` | (section) | {_meaning(field)} |")
            _describe(sub, key + ".", lines)
            continue
        item = _list_item_model(field.annotation)
        if field.is_required():
            shown = "(required)"
        elif item is not None:
            shown = f"one entry, see `{key}[]`"
        else:
            shown = f"`{_yaml_scalar(field.get_default(call_default_factory=True))}`"
        lines.append(f"| `{key}` | {shown} | {_meaning(field)} |")


_TABLE_HEAD = ["| key | default | meaning |", "| --- | --- | --- |"]


def config_docs() -> str:
    """Markdown reference of every option (docs/config.md is this text)."""
    from homeserver.config.model import ListenerConfig, RateLimit

    lines = [
        "# Configuration reference",
        "",
        "Generated from `homeserver/config/model.py` by `homeserver config-docs`; a test keeps",
        "it in sync. `homeserver init` writes a commented `homeserver.yaml` with the same text.",
        "",
        "Every key can also be set from the environment: `HS_<KEY>` with `__` between nesting",
        "levels, e.g. `HS_SERVER_NAME=example.org`, `HS_REGISTRATION__ENABLED=true`,",
        "`HS_DATABASE__URL=postgresql://...`. Values are parsed as YAML scalars;",
        "environment values win over the file. Unknown keys are errors, and every error is",
        "reported at once with its key path (`homeserver check-config`).",
        "",
        "## Top level",
        "",
        *_TABLE_HEAD,
    ]
    _describe(Config, "", lines)
    lines += [
        "",
        "## `listeners[]`",
        "",
        "Each entry of `listeners` is one HTTP(S) listener. Default: one listener on",
        "`127.0.0.1:8008` serving every resource.",
        "",
        *_TABLE_HEAD,
    ]
    _describe(ListenerConfig, "", lines)
    lines += [
        "",
        "## `rate_limits.<kind>`",
        "",
        "`rate_limits.login`, `rate_limits.registration` and `rate_limits.message` are token",
        "buckets with these keys (no defaults inside a bucket: give both).",
        "",
        *_TABLE_HEAD,
    ]
    _describe(RateLimit, "", lines)
    return "\n".join(lines) + "\n"


def _comment(text: str, indent: str, out: list[str]) -> None:
    for line in textwrap.wrap(text, width=max(40, 88 - len(indent))):
        out.append(f"{indent}# {line}")


def _dump_model(model: BaseModel, indent: str, out: list[str]) -> None:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        _comment(_meaning(field), indent, out)
        if isinstance(value, BaseModel):
            out.append(f"{indent}{name}:")
            _dump_model(value, indent + "  ", out)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            out.append(f"{indent}{name}:")
            for item in value:
                out.append(f"{indent}  -")
                _dump_model(item, indent + "    ", out)
        else:
            out.append(f"{indent}{name}: {_yaml_scalar(_plain(value))}")
        if not indent:
            out.append("")


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def dump_example(config: Config) -> str:
    """``config`` as YAML with every option's description as a comment above it
    (what ``homeserver init`` writes). Loading the text gives ``config`` back."""
    out = [
        "# Homeserver configuration. Every option is listed with its current value.",
        "# Reference: docs/config.md (or `homeserver config-docs`). Any key can be",
        "# overridden from the environment, e.g. HS_SERVER_NAME or HS_DATABASE__URL.",
        "",
    ]
    _dump_model(config, "", out)
    return "\n".join(out).rstrip("\n") + "\n"
