"""Configuration: YAML (and environment variables) loaded into pydantic models.

One model per section, ``extra="forbid"`` everywhere so a mistyped key is an
error. ``load_config`` reports every problem at once with its key path.
Environment variables override the file: ``HOMESERVER__<SECTION>__<KEY>`` (double
underscore between nesting levels, a number for a list entry), values parsed as
YAML, e.g. ``HOMESERVER__SERVER_NAME=example.org``,
``HOMESERVER__REGISTRATION__ENABLED=true`` or ``HOMESERVER__ADMINS='["@a:example.org"]'``.
"""

from homeserver.config.load import ConfigError, dump_example, load_config
from homeserver.config.model import Config

__all__ = ["Config", "ConfigError", "dump_example", "load_config"]
