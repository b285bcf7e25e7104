"""Configuration: YAML (and environment variables) loaded into pydantic models.

One model per section, ``extra="forbid"`` everywhere so a mistyped key is an
error. ``load_config`` reports every problem at once with its key path.
Environment variables override the file: ``HS_<SECTION>__<KEY>`` (double
underscore between nesting levels), values parsed as YAML scalars, e.g.
``HS_SERVER_NAME=example.org`` or ``HS_REGISTRATION__ENABLED=true``.
"""

from homeserver.config.load import ConfigError, dump_example, load_config
from homeserver.config.model import Config

__all__ = ["Config", "ConfigError", "dump_example", "load_config"]
