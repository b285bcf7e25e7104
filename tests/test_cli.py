"""The ``homeserver`` command, run as a real subprocess against temp dirs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HS_", "HOMESERVER"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def hs(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homeserver", *args],
        cwd=cwd,
        env=env or _env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_init_writes_config_and_signing_key(tmp_path: Path) -> None:
    result = hs("init", "--server-name", "example.org", "--port", "8448", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((tmp_path / "data" / "homeserver.yaml").read_text())
    assert config["server_name"] == "example.org"
    assert config["listeners"][0]["port"] == 8448
    assert config["database"]["url"] == "sqlite:///data/homeserver.db"
    assert (tmp_path / "data" / "signing.key").read_text().startswith("ed25519 a_")
    assert "register-user" in result.stdout
    assert "homeserver run" in result.stdout
    assert "Registration is closed" in result.stdout


def test_init_writes_comments_from_model_descriptions(tmp_path: Path) -> None:
    hs("init", cwd=tmp_path)
    text = (tmp_path / "data" / "homeserver.yaml").read_text()
    assert "# The domain in user ids" in text
    assert "# Allow anyone to register through /register." in text


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    assert hs("init", cwd=tmp_path).returncode == 0
    key = (tmp_path / "data" / "signing.key").read_text()
    again = hs("init", "--server-name", "other.example", cwd=tmp_path)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    forced = hs("init", "--server-name", "other.example", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "other.example" in (tmp_path / "data" / "homeserver.yaml").read_text()
    assert (tmp_path / "data" / "signing.key").read_text() == key


def test_init_honours_data_dir_and_config_path(tmp_path: Path) -> None:
    data = tmp_path / "state"
    conf = tmp_path / "etc" / "hs.yaml"
    result = hs(
        "init", "--data-dir", str(data), "--config", str(conf), "--enable-registration",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(conf.read_text())
    assert config["registration"]["enabled"] is True
    assert config["database"]["url"] == "sqlite:///" + (data / "homeserver.db").as_posix()
    assert (data / "signing.key").exists()
    assert f"--config {conf}" in result.stdout
    assert "Registration is open" in result.stdout


def test_check_config_accepts_fresh_config(tmp_path: Path) -> None:
    hs("init", cwd=tmp_path)
    result = hs("check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_check_config_reports_every_error_with_key_paths(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "server_name: 'bad name'\nlisteners:\n  - port: -1\nlogging:\n  level: LOUD\nfoo: 1\n"
    )
    result = hs("check-config", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    problems = [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]
    paths = sorted(p.split(":")[0] for p in problems)
    assert paths == ["foo", "listeners.0.port", "logging.level", "server_name"]


def test_check_config_fails_when_file_missing(tmp_path: Path) -> None:
    result = hs("check-config", cwd=tmp_path)
    assert result.returncode == 1
    assert "homeserver init" in result.stderr


def test_check_config_reads_path_from_homeserver_config(tmp_path: Path) -> None:
    conf = tmp_path / "custom.yaml"
    conf.write_text("server_name: custom.example\n")
    result = hs("check-config", cwd=tmp_path, env=_env(HOMESERVER_CONFIG=str(conf)))
    assert result.returncode == 0, result.stderr
    assert "custom.example" in result.stdout
    legacy = hs("check-config", cwd=tmp_path, env=_env(HS_CONFIG=str(conf)))
    assert legacy.returncode == 0, legacy.stderr
    assert "custom.example" in legacy.stdout


def test_env_var_overrides_config_file(tmp_path: Path) -> None:
    hs("init", cwd=tmp_path)
    result = hs("check-config", cwd=tmp_path, env=_env(HOMESERVER__SERVER_NAME="env.example"))
    assert result.returncode == 0, result.stderr
    assert "env.example" in result.stdout
    broken = hs("check-config", cwd=tmp_path, env=_env(HOMESERVER__DATABASE__READERS="many"))
    assert broken.returncode == 1
    assert "database.readers" in broken.stderr
    assert "HOMESERVER__DATABASE__READERS" in broken.stderr


def test_unrelated_hs_variables_do_not_stop_the_server(tmp_path: Path) -> None:
    hs("init", cwd=tmp_path)
    result = hs("check-config", cwd=tmp_path, env=_env(HS_VENV="/opt/venv", HS_FOO="1"))
    assert result.returncode == 0, result.stderr
    unknown = hs("check-config", cwd=tmp_path, env=_env(HOMESERVER__VENV="/opt/venv"))
    assert unknown.returncode == 1
    assert "venv: not a configuration option" in unknown.stderr
    assert "HOMESERVER__VENV" in unknown.stderr


def test_unsupported_database_url_is_rejected_by_check_config_and_run(tmp_path: Path) -> None:
    hs("init", cwd=tmp_path)
    env = _env(HOMESERVER__DATABASE__URL="mysql://hs:secret@localhost/hs")
    for command in ("check-config", "run"):
        result = hs(command, cwd=tmp_path, env=env)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "database.url: unsupported database 'mysql'" in result.stderr, command
        assert "Traceback" not in result.stderr, command


def test_migrate_applies_deltas_once(tmp_path: Path) -> None:
    hs("init", cwd=tmp_path)
    first = hs("migrate", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "0002_profiles_account_data" in first.stdout
    second = hs("migrate", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout


def test_config_docs_prints_reference(tmp_path: Path) -> None:
    result = hs("config-docs", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == (REPO / "docs" / "config.md").read_text(encoding="utf-8")


def test_unknown_command_is_usage_error(tmp_path: Path) -> None:
    assert hs("frobnicate", cwd=tmp_path).returncode == 2


def _get_json(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body: dict[str, object] = json.load(response)
            return body
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _post_json(url: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def _start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "homeserver", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_until_serving(proc: subprocess.Popen[str], url: str) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        body = _get_json(url)
        if body is not None:
            return body
        time.sleep(0.1)
    raise AssertionError("server did not answer within 30s")


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("server did not stop within 10s of SIGTERM:\n" + out) from None
    return proc.returncode, out


def test_run_without_config_initialises_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, _env(HOMESERVER__LISTENERS__0__PORT=str(port)))
    try:
        body = _wait_until_serving(proc, f"http://127.0.0.1:{port}/_matrix/client/versions")
        assert "v1.1" in body["versions"]  # type: ignore[operator]
    finally:
        code, out = _stop(proc)
    assert code == 0, out
    assert (tmp_path / "data" / "homeserver.yaml").exists()
    assert (tmp_path / "data" / "homeserver.db").exists()
    assert "register-user --admin" in out
    # It is starting already: the first-run text must not tell the user to start it.
    assert "The server starts now" in out
    assert "Start the server" not in out
    assert "Registration is closed" in out
    assert "registration.enabled: true" in out


def test_register_user_creates_user_who_can_log_in(tmp_path: Path) -> None:
    port = free_port()
    assert hs("init", "--port", str(port), cwd=tmp_path).returncode == 0
    created = hs(
        "register-user", "--admin", "--password-stdin", "alice", cwd=tmp_path, stdin="s3cret-pw\n"
    )
    assert created.returncode == 0, created.stderr
    assert "@alice:localhost" in created.stdout
    duplicate = hs("register-user", "--password", "another-pw", "alice", cwd=tmp_path)
    assert duplicate.returncode == 1
    proc = _start(tmp_path, _env())
    try:
        _wait_until_serving(proc, f"http://127.0.0.1:{port}/_matrix/client/versions")
        status, body = _post_json(
            f"http://127.0.0.1:{port}/_matrix/client/v3/login",
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "alice"},
                "password": "s3cret-pw",
            },
        )
    finally:
        _stop(proc)
    assert status == 200, body
    assert body["user_id"] == "@alice:localhost"


def test_register_user_without_password_source_fails_without_terminal(tmp_path: Path) -> None:
    hs("init", cwd=tmp_path)
    result = hs("register-user", "bob", cwd=tmp_path, stdin="")
    assert result.returncode == 1
    assert "--password-stdin" in result.stderr


def test_create_registration_token_prints_new_token(tmp_path: Path) -> None:
    hs("init", "--enable-registration", cwd=tmp_path)
    first = hs("create-registration-token", "--uses", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip()
    assert len(token) == 16
    assert token.isalnum()
    chosen = hs("create-registration-token", "--token", "invite.2024", cwd=tmp_path)
    assert chosen.stdout.strip() == "invite.2024"
    duplicate = hs("create-registration-token", "--token", "invite.2024", cwd=tmp_path)
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
