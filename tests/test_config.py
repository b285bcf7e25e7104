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
        "HOMESERVER__SERVER_NAME": "env.example",
        "HOMESERVER__REGISTRATION__ENABLED": "true",
        "HOMESERVER__DATABASE__READERS": "7",
        "HOMESERVER_CONFIG": "ignored.yaml",
        "OTHER": "x",
    }
    config = load_config(path, environ=environ)
    assert config.server_name == "env.example"
    assert config.registration.enabled is True
    assert config.database.readers == 7


def test_env_ignores_unrelated_variables_with_similar_names() -> None:
    environ = {
        "HS_VENV": "/opt/venv",
        "HS_TEST_POSTGRES_DSN": "postgresql://x@/y",
        "HS_CONFIG": "elsewhere.yaml",
        "HOMESERVER_URL": "https://matrix.example.org",
        "HOMESERVER": "example.org",
        "HOMESERVER_LOG_LEVEL": "DEBUG",
    }
    assert load_config(None, environ=environ) == load_config(None, environ={})


def test_env_rejects_unknown_option_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"HOMESERVER__VENV": "/opt/venv"})
    assert info.value.problems == [
        "venv: not a configuration option (from the environment variable HOMESERVER__VENV)"
    ]


def test_env_override_errors_carry_key_path_and_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"HOMESERVER__LIMITS__MAX_UPLOAD_BYTES": "lots"})
    (problem,) = info.value.problems
    assert problem.startswith("limits.max_upload_bytes:")
    assert "HOMESERVER__LIMITS__MAX_UPLOAD_BYTES" in problem


def test_env_legacy_prefix_still_sets_top_level_options_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_config(
        None, environ={"HS_SERVER_NAME": "old.example", "HS_REGISTRATION__ENABLED": "true"}
    )
    assert config.server_name == "old.example"
    assert config.registration.enabled is True
    assert "HS_SERVER_NAME is deprecated: rename it HOMESERVER__SERVER_NAME" in caplog.text


def test_env_new_prefix_wins_over_legacy_name() -> None:
    environ = {"HS_SERVER_NAME": "old.example", "HOMESERVER__SERVER_NAME": "new.example"}
    assert load_config(None, environ=environ).server_name == "new.example"


def test_env_sets_whole_lists_as_yaml_or_json() -> None:
    config = load_config(
        None,
        environ={
            "HOMESERVER__ADMINS": '["@alice:example.org", "@bob:example.org"]',
            "HOMESERVER__LISTENERS": "[{port: 8008}, {port: 8448, resources: [federation]}]",
            "HOMESERVER__MEDIA__THUMBNAIL_SIZES": "[32x32 crop]",
        },
    )
    assert config.admins == ["@alice:example.org", "@bob:example.org"]
    assert [(li.port, li.resources) for li in config.listeners] == [
        (8008, ["client", "federation", "keys", "media", "admin"]),
        (8448, ["federation"]),
    ]
    assert config.media.thumbnail_sizes == ["32x32 crop"]


def test_env_sets_one_list_entry_by_index(tmp_path: Path) -> None:
    path = write(
        tmp_path, "listeners:\n  - port: 8008\n  - port: 8448\n    resources: [federation]\n"
    )
    config = load_config(
        path,
        environ={
            "HOMESERVER__LISTENERS__1__BIND_ADDRESS": "0.0.0.0",
            "HOMESERVER__LISTENERS__2__PORT": "9000",
            "HOMESERVER__ADMINS__0": "'@alice:example.org'",
        },
    )
    assert [(li.bind_address, li.port) for li in config.listeners] == [
        ("127.0.0.1", 8008),
        ("0.0.0.0", 8448),
        ("127.0.0.1", 9000),
    ]
    assert config.listeners[1].resources == ["federation"]
    assert config.admins == ["@alice:example.org"]


def test_env_list_entry_index_applies_after_whole_list() -> None:
    config = load_config(
        None,
        environ={
            "HOMESERVER__LISTENERS__0__PORT": "9001",
            "HOMESERVER__LISTENERS": "[{port: 8008, bind_address: 0.0.0.0}]",
        },
    )
    assert [(li.bind_address, li.port) for li in config.listeners] == [("0.0.0.0", 9001)]


def test_env_list_entry_past_the_end_is_an_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"HOMESERVER__LISTENERS__3__PORT": "9000"})
    (problem,) = info.value.problems
    assert problem.startswith("listeners.3.port: listeners has 0 entries")
    assert "HOMESERVER__LISTENERS__3__PORT" in problem


def test_env_scalar_for_a_list_explains_the_list_syntax() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"HOMESERVER__ADMINS": "@alice:example.org"})
    (problem,) = info.value.problems
    assert problem.startswith("admins: Input should be a valid list")
    assert "HOMESERVER__ADMINS='[" in problem


def test_overrides_win_over_environment() -> None:
    config = load_config(
        None,
        environ={"HOMESERVER__SERVER_NAME": "env.example"},
        overrides={"server_name": "o.example"},
    )
    assert config.server_name == "o.example"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///data/homeserver.db",
        "sqlite:////var/lib/homeserver/homeserver.db",
        "data/homeserver.db",
        "postgresql://hs:secret@localhost:5432/hs",
        "postgres://hs@/hs?host=/run/postgresql",
    ],
)
def test_database_url_accepts_sqlite_and_postgresql(url: str) -> None:
    config = load_config(None, environ={}, overrides={"database": {"url": url}})
    assert config.database.url == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://hs:secret@localhost/hs", "unsupported database 'mysql'"),
        ("sqlite://data/homeserver.db", "sqlite:///relative/path.db"),
        ("sqlite:///:memory:", "needs a database file"),
        ("", "needs a database file"),
    ],
)
def test_database_url_rejects_what_the_server_cannot_open(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={}, overrides={"database": {"url": url}})
    (problem,) = info.value.problems
    assert problem.startswith("database.url: ")
    assert says in problem
    assert "Value error" not in problem


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
