"""Loading the configuration from YAML and the environment."""

from __future__ import annotations

import logging
import os
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from homeserver.config.model import Config

#: Environment variables under this prefix set options: ``HOMESERVER__<KEY>``, with ``__``
#: between nesting levels. Long and doubled so that unrelated variables (``HS_VENV``,
#: ``HOMESERVER_URL`` of a bot) are never read as configuration.
ENV_PREFIX = "HOMESERVER__"
#: The old prefix. Still read, with a warning, but only for variables naming a
#: top-level option; any other ``HS_*`` variable is left alone.
LEGACY_ENV_PREFIX = "HS_"
#: Names the configuration file (used by the command line, not an option).
CONFIG_FILE_ENV = "HOMESERVER_CONFIG"
LEGACY_CONFIG_FILE_ENV = "HS_CONFIG"

logger = logging.getLogger(__name__)

#: A key path inside the configuration: mapping keys, and list indexes (ints).
KeyPath = tuple[str | int, ...]


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every error with its key path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


def _env_value(raw: str) -> Any:
    """A variable's value as YAML (so JSON too): ``true``, ``7``, ``[a, b]``, ``{port: 1}``."""
    if raw == "":
        return ""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _env_settings(environ: Mapping[str, str]) -> dict[KeyPath, str]:
    """The variables that set options, by key path: ``HOMESERVER__A__0__B`` → ``("a", 0, "b")``.

    Legacy ``HS_*`` names count only when they name a top-level option and the
    ``HOMESERVER__`` name of the same option is not set too.
    """
    found: dict[KeyPath, str] = {}
    legacy: dict[KeyPath, str] = {}
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX):
            target, rest = found, name[len(ENV_PREFIX) :]
        elif name.startswith(LEGACY_ENV_PREFIX) and name != LEGACY_CONFIG_FILE_ENV:
            target, rest = legacy, name[len(LEGACY_ENV_PREFIX) :]
        else:
            continue
        path: KeyPath = tuple(
            int(part) if part.isdigit() else part.lower() for part in rest.split("__") if part
        )
        if path:
            target[path] = name
    for path, name in legacy.items():
        if path[0] not in Config.model_fields or path in found:
            continue
        new_name = ENV_PREFIX + name[len(LEGACY_ENV_PREFIX) :]
        logger.warning("%s is deprecated: rename it %s", name, new_name)
        found[path] = name
    return found


def _set(data: dict[str, Any], path: KeyPath, value: Any) -> str | None:
    """Sets ``value`` at ``path`` inside ``data``, creating mappings and list entries on the way.

    Returns:
        why it cannot be set (a list index past the end, a scalar in the way), or None.
    """
    node: Any = data
    for depth, key in enumerate(path):
        last = depth == len(path) - 1
        where = ".".join(str(k) for k in path[:depth]) or "the top level"
        if isinstance(key, int):
            if not isinstance(node, list):
                return f"{where} is not a list here, so it has no entry {key}"
            if key > len(node):
                entries = "1 entry" if len(node) == 1 else f"{len(node)} entries"
                return f"{where} has {entries}: the next one is {len(node)}, not {key}"
            if key == len(node):
                node.append(None)
        elif not isinstance(node, dict):
            return f"{where} is not a section here, so it has no key {key!r}"
        if last:
            node[key] = value
        else:
            nxt = path[depth + 1]
            child = node[key] if isinstance(key, int) else node.get(key)
            if child is None:
                # A list entry not in the file starts empty: its own defaults apply.
                child = [] if isinstance(nxt, int) else {}
                node[key] = child
            node = child
    return None


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            base[k] = _merge(base[k], v)
        else:
            base[k] = v
    return base


def _loc_text(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _problem(err: Any, env: Mapping[KeyPath, str]) -> str:
    """One validation error as ``key.path: message``, naming the variable that set it."""
    loc: KeyPath = tuple(err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "not a configuration option"
    source = next((env[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in env), None)
    if source is None:
        return f"{_loc_text(loc)}: {message}"
    hint = ""
    if err["type"] == "list_type":
        hint = f' (give the whole list as YAML or JSON, e.g. {source}=\'["a", "b"]\')'
    return f"{_loc_text(loc)}: {message}{hint} (from the environment variable {source})"


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Loads and validates the configuration.

    Args:
        path: a YAML file; None means defaults plus environment only.
        environ: environment to read ``HOMESERVER__*`` overrides from (default os.environ).
        overrides: values that win over both (used by tests and the CLI).

    Raises:
        ConfigError: with every problem found, each with its key path (and the
            environment variable, when one set it).
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
    environ = os.environ if environ is None else environ
    env = _env_settings(environ)
    problems = []
    # Shorter paths first: HOMESERVER__LISTENERS='[...]' before HOMESERVER__LISTENERS__0__PORT.
    for key_path, name in sorted(env.items(), key=lambda item: len(item[0])):
        value = _env_value(environ[name])
        why = _set(data, key_path, value)
        if why is not None:
            problems.append(f"{_loc_text(key_path)}: {why} (from the environment variable {name})")
    if problems:
        raise ConfigError(problems)
    if overrides:
        _merge(data, overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError([_problem(err, env) for err in e.errors()]) from e


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
        "Every key can also be set from the environment: `HOMESERVER__<KEY>`, with `__` between",
        "nesting levels, e.g. `HOMESERVER__SERVER_NAME=example.org`,",
        "`HOMESERVER__REGISTRATION__ENABLED=true`, `HOMESERVER__DATABASE__URL=postgresql://...`.",
        "Values are read as YAML, so a list or a section can be given whole, in YAML or JSON:",
        "`HOMESERVER__ADMINS='[\"@alice:example.org\"]'`,",
        "`HOMESERVER__LISTENERS='[{port: 8008}, {port: 8448, resources: [federation]}]'`.",
        "A number between `__` names one entry of a list, counted from 0:",
        "`HOMESERVER__LISTENERS__0__PORT=8009` changes the first listener (the next number",
        "after the last entry adds one). Environment values win over the file. Unknown keys",
        "are errors, and every error is reported at once with its key path and, for a value",
        "from the environment, the variable's name (`homeserver check-config`). The file to",
        "read is `--config`, else `$HOMESERVER_CONFIG`, else `data/homeserver.yaml`.",
        "",
        "Variables named `HS_<KEY>` (the old prefix) are still read, with a warning,",
        "when `<KEY>` starts with a top-level option; other `HS_*` variables are ignored.",
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
        "# overridden from the environment, e.g. HOMESERVER__SERVER_NAME or",
        "# HOMESERVER__DATABASE__URL (docs/config.md).",
        "",
    ]
    _dump_model(config, "", out)
    return "\n".join(out).rstrip("\n") + "\n"
