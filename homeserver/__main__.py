"""The ``homeserver`` command: init, run, register-user, check-config, migrate, config-docs,
backup, restore.

Exit codes: 0 success, 1 an error this command reports (bad config, user
exists, ...), 2 bad command-line usage. The config file is ``--config``,
else ``$HOMESERVER_CONFIG`` (or the older ``$HS_CONFIG``), else ``data/homeserver.yaml``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeserver.config import Config, ConfigError, dump_example, load_config
from homeserver.config.load import CONFIG_FILE_ENV, LEGACY_CONFIG_FILE_ENV

if TYPE_CHECKING:
    from homeserver.services.accounts.registration import RegistrationService

#: Something to do with the registration service: ``lambda reg: reg.register_user(...)``.
RegistrationAction = Callable[["RegistrationService"], Awaitable[str]]

DEFAULT_DATA_DIR = "data"
CONFIG_FILE_NAME = "homeserver.yaml"


class CliError(Exception):
    """An error to report on stderr with exit code 1."""


def _default_config_path() -> Path:
    return Path(DEFAULT_DATA_DIR) / CONFIG_FILE_NAME


def _config_path(args: argparse.Namespace) -> tuple[Path, bool]:
    """The config file to use, and whether the user named it (flag or $HOMESERVER_CONFIG)."""
    if args.config:
        return Path(args.config), True
    env = os.environ.get(CONFIG_FILE_ENV) or os.environ.get(LEGACY_CONFIG_FILE_ENV)
    if env:
        return Path(env), True
    return _default_config_path(), False


def _load(path: Path) -> Config:
    if not path.exists():
        raise CliError(
            f"no configuration file at {path}; create one with `homeserver init` "
            f"(or pass --config / set {CONFIG_FILE_ENV})"
        )
    return load_config(path)


def _sqlite_url(data_dir: str) -> str:
    # sqlite:/// + a relative path, or sqlite://// + an absolute one.
    return "sqlite:///" + (Path(data_dir) / "homeserver.db").as_posix()


# --- init ---------------------------------------------------------------------


def _init(
    *,
    data_dir: str = DEFAULT_DATA_DIR,
    server_name: str = "localhost",
    database_url: str | None = None,
    bind: str | None = None,
    port: int | None = None,
    enable_registration: bool | None = None,
    config_path: Path | None = None,
    force: bool = False,
    starting: bool = False,
) -> Path:
    """Writes the config file and the signing key, and prints what to do next.

    Args:
        starting: ``homeserver run`` called this and starts the server next, so the
            next steps do not tell the user to start it.
    """
    from homeserver.app import load_or_create_signing_key, signing_key_path

    path = config_path or Path(data_dir) / CONFIG_FILE_NAME
    if path.exists() and not force:
        raise CliError(f"{path} already exists; pass --force to overwrite it")
    listener: dict[str, Any] = {}
    if bind is not None:
        listener["bind_address"] = bind
    if port is not None:
        listener["port"] = port
    overrides: dict[str, Any] = {
        "server_name": server_name,
        "data_dir": data_dir,
        "database": {"url": database_url or _sqlite_url(data_dir)},
    }
    if listener:
        overrides["listeners"] = [listener]
    if enable_registration is not None:
        overrides["registration"] = {"enabled": enable_registration}
    # The file holds exactly what was asked for, not the caller's HS_* environment.
    config = load_config(None, environ={}, overrides=overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    path.write_text(dump_example(config), encoding="utf-8")
    key_existed = signing_key_path(config).exists()
    load_or_create_signing_key(config)
    print(f"Wrote {path}")
    key_note = "kept the existing" if key_existed else "created a new"
    print(f"Signing key: {key_note} key in {signing_key_path(config)}")
    config_flag = "" if path == _default_config_path() else f" --config {path}"
    listen = config.listeners[0]
    url = f"http://{listen.bind_address}:{listen.port}/"
    admin = f"homeserver register-user{config_flag} --admin NAME"
    if config.registration.enabled:
        registration = "Registration is open: anyone who can reach the server can sign up."
    else:
        registration = (
            f"Registration is closed: to let people sign up, set registration.enabled: true "
            f"in {path} (see docs/config.md) and restart the server."
        )
    print()
    if starting:
        print(f"The server starts now and listens on {url}")
        print(f"  - Create the first admin from another terminal:  {admin}")
        print(f"  - {registration}")
        print(f"  - Review {path} (server_name cannot change once users exist).")
    else:
        print("Next steps:")
        print(f"  1. Review {path} (server_name cannot change once users exist).")
        print(f"  2. Start the server:        homeserver run{config_flag}")
        print(f"     It listens on {url}")
        print(f"  3. Create the first admin:  {admin}")
        print(f"  {registration}")
    return path


def cmd_init(args: argparse.Namespace) -> int:
    _init(
        data_dir=args.data_dir,
        server_name=args.server_name,
        database_url=args.database_url,
        bind=args.bind,
        port=args.port,
        enable_registration=args.enable_registration,
        config_path=Path(args.config) if args.config else None,
        force=args.force,
    )
    return 0


# --- run ----------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from homeserver.app import serve
    from homeserver.backup.staging import sweep as sweep_backup_staging
    from homeserver.logging import setup_logging

    path, named = _config_path(args)
    if not named and not path.exists():
        print(f"No configuration found at {path}: creating one with the defaults.")
        _init(starting=True)
        print()
    config = _load(path)
    setup_logging(config.logging.level, config.logging.format)
    # Scratch files of a backup or restore killed meanwhile (see backup/staging.py).
    sweep_backup_staging(config.data_dir)
    _limit_malloc_arenas()
    asyncio.run(serve(config))
    return 0


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """Caps glibc's malloc arenas. Every thread (SQLite readers, hashing,
    thumbnails) otherwise gets an arena of its own, and freed memory stays
    spread over them: resident memory grows well past what is in use."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        m_arena_max = -8  # from malloc.h
        libc.mallopt(m_arena_max, arenas)
    except (OSError, AttributeError):
        return


# --- register-user --------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return str(args.password)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for a password: use --password-stdin")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Password (again): "):
        raise CliError("the passwords do not match")
    return password


async def _with_registration(config: Config, action: RegistrationAction) -> str:
    """Opens the services, runs ``action`` on the registration service, closes."""
    from homeserver.app import close_services, open_services

    services = await open_services(config)
    try:
        return await action(services.registration)
    finally:
        await close_services(services)


def cmd_register_user(args: argparse.Namespace) -> int:
    from homeserver.core.errors import MatrixError

    config = _load(_config_path(args)[0])
    password = _read_password(args)
    try:
        user_id = asyncio.run(
            _with_registration(
                config,
                lambda reg: reg.register_user(args.localpart, password, admin=args.admin),
            )
        )
    except MatrixError as e:
        raise CliError(f"cannot register {args.localpart!r}: {e.message} ({e.code})") from e
    print(f"Registered {user_id}{' (server admin)' if args.admin else ''}")
    return 0


def cmd_create_registration_token(args: argparse.Namespace) -> int:
    import time

    from homeserver.core.errors import MatrixError

    config = _load(_config_path(args)[0])
    expiry = None if args.expiry_ms is None else int(time.time() * 1000) + args.expiry_ms
    try:
        token = asyncio.run(
            _with_registration(
                config,
                lambda reg: reg.create_registration_token(
                    args.token, uses_allowed=args.uses, expiry_time=expiry
                ),
            )
        )
    except MatrixError as e:
        raise CliError(f"cannot create the token: {e.message}") from e
    print(token)
    if not config.registration.enabled or not config.registration.require_token:
        print(
            "note: tokens are only asked for when registration.enabled and "
            "registration.require_token are both true",
            file=sys.stderr,
        )
    return 0


# --- check-config, migrate, config-docs ------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    path = _config_path(args)[0]
    config = _load(path)
    print(f"{path}: OK (server_name {config.server_name})")
    return 0


async def _migrate(config: Config) -> list[str]:
    from homeserver.storage.db.migrate import migrate
    from homeserver.storage.db.open import open_database

    db = await open_database(
        config.database.url,
        readers=config.database.readers,
        max_connections=config.database.pool_max,
    )
    try:
        return await migrate(db)
    finally:
        await db.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    config = _load(_config_path(args)[0])
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    applied = asyncio.run(_migrate(config))
    if applied:
        print("Applied schema deltas:")
        for name in applied:
            print(f"  {name}")
    else:
        print("The database schema is up to date.")
    return 0


def cmd_config_docs(args: argparse.Namespace) -> int:
    from homeserver.config.load import config_docs

    sys.stdout.write(config_docs())
    return 0


# --- backup, restore ----------------------------------------------------------------


def cmd_backup(args: argparse.Namespace) -> int:
    from homeserver.backup.dump import create_backup, verify_backup

    if args.verify:
        manifest = verify_backup(Path(args.archive))
        rows = sum(t.rows for t in manifest.tables.values())
        print(
            f"{args.archive}: OK (server {manifest.server_name}, schema version "
            f"{manifest.schema_version}, {len(manifest.tables)} tables, {rows} rows, "
            f"{len(manifest.files)} files)"
        )
        return 0
    path, _ = _config_path(args)
    config = _load(path)
    manifest = asyncio.run(create_backup(config, Path(args.archive), config_path=path))
    print(f"Wrote {args.archive} ({sum(t.rows for t in manifest.tables.values())} rows)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from homeserver.backup.restore import restore_backup

    config = _load(_config_path(args)[0])
    manifest = asyncio.run(restore_backup(config, Path(args.archive)))
    print(
        f"Restored {args.archive} into {config.database.url.split('://', 1)[0]} "
        f"({sum(t.rows for t in manifest.tables.values())} rows)"
    )
    return 0


# --- argument parsing -------------------------------------------------------------


def _add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        metavar="PATH",
        help=f"configuration file (default: ${CONFIG_FILE_ENV}, else {_default_config_path()})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="homeserver", description="A Matrix homeserver.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    init = command("init", cmd_init, "write a commented config file and a signing key")
    init.add_argument("--data-dir", default=DEFAULT_DATA_DIR, metavar="DIR")
    init.add_argument("--server-name", default="localhost", metavar="NAME")
    init.add_argument("--database-url", metavar="URL", help="default: SQLite in the data directory")
    init.add_argument("--bind", metavar="ADDR", help="listener address (default 127.0.0.1)")
    init.add_argument("--port", type=int, metavar="N", help="listener port (default 8008)")
    reg = init.add_mutually_exclusive_group()
    reg.add_argument("--enable-registration", dest="enable_registration", action="store_true")
    reg.add_argument("--disable-registration", dest="enable_registration", action="store_false")
    init.set_defaults(enable_registration=None)
    init.add_argument("--config", "-c", metavar="PATH", help="default: DATA_DIR/homeserver.yaml")
    init.add_argument("--force", action="store_true", help="overwrite an existing config file")

    run = command("run", cmd_run, "run the server (creates a default config on first use)")
    _add_config_flag(run)

    register = command("register-user", cmd_register_user, "create a user account")
    _add_config_flag(register)
    register.add_argument("--admin", action="store_true", help="make the user a server admin")
    source = register.add_mutually_exclusive_group()
    source.add_argument("--password", metavar="P", help="the password (visible to `ps`)")
    source.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    register.add_argument("localpart", metavar="LOCALPART", help="e.g. alice for @alice:server")

    token = command(
        "create-registration-token",
        cmd_create_registration_token,
        "create a token that lets someone register (prints it)",
    )
    _add_config_flag(token)
    token.add_argument("--uses", type=int, metavar="N", help="registrations allowed (default: any)")
    token.add_argument(
        "--expiry-ms", type=int, metavar="MS", help="lifetime in ms from now (default: none)"
    )
    token.add_argument("--token", metavar="T", help="the token text (default: random)")

    check = command("check-config", cmd_check_config, "validate the configuration")
    _add_config_flag(check)

    mig = command("migrate", cmd_migrate, "apply pending database schema changes")
    _add_config_flag(mig)

    backup = command(
        "backup", cmd_backup, "archive the database, media, signing key and config (live)"
    )
    _add_config_flag(backup)
    backup.add_argument("--verify", action="store_true", help="check ARCHIVE, write nothing")
    backup.add_argument("archive", metavar="ARCHIVE", help="the .tar.gz to write (or check)")

    restore = command("restore", cmd_restore, "restore an archive into an empty database")
    _add_config_flag(restore)
    restore.add_argument("--archive", required=True, metavar="ARCHIVE", help="the .tar.gz")

    command("config-docs", cmd_config_docs, "print the configuration reference (Markdown)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``homeserver`` console script."""
    from homeserver.backup.archive import BackupError
    from homeserver.storage.db.migrate import MigrationError

    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except ConfigError as e:
        print("error: invalid configuration:", file=sys.stderr)
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except (CliError, MigrationError, BackupError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
