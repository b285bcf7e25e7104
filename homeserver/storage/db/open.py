"""Opening a database from a URL.

Accepted forms:

- ``postgresql://user@host:port/dbname`` or ``postgres://…``. Query parameters
  are libpq-style; ``search_path=s1,s2`` (or ``schema=s``) pins the schema, and
  ``options=-csearch_path%3Ds`` is understood too. Other unknown parameters
  become server settings.
- ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``: as in
  SQLAlchemy, whatever follows ``sqlite:///`` is the path, so a fourth slash
  makes it absolute.
- a plain filesystem path such as ``data/hs.db``: SQLite.
"""

from __future__ import annotations

import shlex
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from homeserver.storage.db import Database
from homeserver.storage.db.postgres import PostgresDatabase
from homeserver.storage.db.sqlite import SqliteDatabase


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str) -> str:
    """The filesystem path a ``sqlite:`` URL or plain path names."""
    if url.startswith("sqlite:"):
        if not url.startswith("sqlite:///"):
            raise ValueError(
                f"expected 'sqlite:///relative/path.db' or 'sqlite:////absolute/path.db': {url!r}"
            )
        path = unquote(url.removeprefix("sqlite:///").split("?", 1)[0])
    else:
        path = url
    if not path or path == ":memory:":
        raise ValueError(f"SQLite needs a database file, not {url!r}")
    return path


def split_postgres_url(url: str) -> tuple[str, str | None, dict[str, str]]:
    """Splits out what asyncpg's DSN parser doesn't handle the way we want.

    Returns:
        the DSN to hand to asyncpg, the search_path (or None), and any
        ``-c name=value`` settings from an ``options`` parameter.
    """
    parts = urlsplit(url)
    query: list[tuple[str, str]] = []
    search_path: str | None = None
    settings: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("search_path", "schema"):
            search_path = value
        elif key == "options":
            settings.update(_parse_options(value))
        else:
            query.append((key, value))
    search_path = settings.pop("search_path", None) or search_path
    dsn = urlunsplit(parts._replace(query=urlencode(query)))
    return dsn, search_path, settings


def _parse_options(options: str) -> dict[str, str]:
    """Parses libpq ``options`` (``-c a=b --c=d``) into settings."""
    settings: dict[str, str] = {}
    words = shlex.split(options)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-c" and i + 1 < len(words):
            assignment = words[i + 1]
            i += 2
        elif word.startswith(("-c", "--")):
            assignment = word[2:]
            i += 1
        else:
            raise ValueError(f"unsupported PostgreSQL options: {options!r}")
        name, sep, value = assignment.partition("=")
        if not sep:
            raise ValueError(f"unsupported PostgreSQL options: {options!r}")
        settings[name.replace("-", "_")] = value
    return settings


async def open_database(url: str, *, readers: int = 4, max_connections: int = 10) -> Database:
    """Opens the database a URL or path names.

    Args:
        url: see the module docstring.
        readers: SQLite reader connections (the writer is extra).
        max_connections: PostgreSQL pool size (reads and writes share it).

    Raises:
        ValueError: the URL is not one we understand.
    """
    if is_postgres_url(url):
        dsn, search_path, settings = split_postgres_url(url)
        return await PostgresDatabase.open(
            dsn,
            max_size=max(1, max_connections),
            search_path=search_path,
            server_settings=settings,
        )
    if "://" in url and not url.startswith("sqlite:"):
        raise ValueError(f"unsupported database URL scheme: {url.split('://', 1)[0]!r}")
    return await SqliteDatabase.open(sqlite_path(url), readers=readers)
