"""Loading, validating and documenting the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeserver.config import Config, ConfigError, dump_example, load_config
from homeserver.config.load import config_docs

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "homeserver.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_config_gives_defaults_without_file() -> None:
    config = load_config(None, environ={})
    assert config.server_name == "localhost"
    assert config.listeners[0].port == 8008


def test_load_config_rejects_unknown_key_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "database:\n  uri: sqlite:///x.db\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("database.uri:")


def test_load_config_reports_every_error_at_once(tmp_path: Path) -> None:
    text = (
        "server_name: 'not a server name!'\n"
        "colour: blue\n"
        "listeners:\n  - port: 99999\n"
        "registration:\n  enabled: maybe\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    paths = sorted(p.split(":")[0] for p in info.value.problems)
    assert paths == ["colour", "listeners.0.port", "registration.enabled", "server_name"]


def test_load_config_rejects_non_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- a\n- b\n"), environ={})


def test_load_config_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml", environ={})


def test_env_overrides_file_values_with_nesting(tmp_path: Path) -> None:
    path = write(tmp_path, "server_name: file.example\nregistration:\n  enabled: false\n")
    environ = {
        "HS_SERVER_NAME": "env.example",
        "HS_REGISTRATION__ENABLED": "true",
        "HS_DATABASE__READERS": "7",
        "HS_CONFIG": "ignored.yaml",
        "OTHER": "x",
    }
    config = load_config(path, environ=environ)
    assert config.server_name == "env.example"
    assert config.registration.enabled is True
    assert config.database.readers == 7


def test_env_override_errors_carry_key_path() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"HS_LIMITS__MAX_UPLOAD_BYTES": "lots"})
    assert info.value.problems[0].startswith("limits.max_upload_bytes:")


def test_overrides_win_over_environment() -> None:
    config = load_config(
        None, environ={"HS_SERVER_NAME": "env.example"}, overrides={"server_name": "o.example"}
    )
    assert config.server_name == "o.example"


def test_tls_listener_requires_certificate_and_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={}, overrides={"listeners": [{"tls": True}]})
    assert info.value.problems[0].startswith("listeners.0")


def test_dump_example_round_trips_and_comments_every_option(tmp_path: Path) -> None:
    config = load_config(
        None,
        environ={},
        overrides={"server_name": "example.org", "listeners": [{"port": 8448}]},
    )
    text = dump_example(config)
    assert load_config(write(tmp_path, text), environ={}) == config
    for name, field in Config.model_fields.items():
        assert f"\n{name}:" in text
        assert field.description is not None
        assert field.description.split()[0] in text


def test_config_docs_lists_every_top_level_key() -> None:
    docs = config_docs()
    for name in Config.model_fields:
        assert f"| `{name}` |" in docs
    assert "| `registration.enabled` |" in docs


def test_docs_config_md_matches_generator() -> None:
    assert (REPO / "docs" / "config.md").read_text(encoding="utf-8") == config_docs()
