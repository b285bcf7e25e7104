"""The core stays pure: no async code, no I/O modules, no clock, no randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

_CORE = Path(__file__).resolve().parents[2] / "homeserver" / "core"

#: Top-level modules the core must not import (time and randomness are injected).
FORBIDDEN_MODULES = frozenset(
    {
        "asyncio",
        "aiohttp",
        "asyncpg",
        "aiosqlite",
        "sqlite3",
        "socket",
        "pydantic",
        "time",
        "random",
    }
)


def _violations(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.AsyncFunctionDef | ast.AsyncFor | ast.AsyncWith):
            found.append(f"{where}: async code")
        elif isinstance(node, ast.Await):
            found.append(f"{where}: await")
        elif isinstance(node, ast.Import):
            found.extend(
                f"{where}: import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] in FORBIDDEN_MODULES
            )
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module is not None
            and node.module.split(".")[0] in FORBIDDEN_MODULES
        ):
            found.append(f"{where}: from {node.module} import ...")
    return found


def _core_files() -> list[Path]:
    return sorted(_CORE.rglob("*.py"))


def test_core_has_python_files() -> None:
    assert len(_core_files()) >= 5


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(_CORE)))
def test_core_module_is_pure(path: Path) -> None:
    assert _violations(path.read_text("utf-8"), str(path.relative_to(_CORE))) == []


@pytest.mark.parametrize(
    "source",
    [
        "async def f():\n    pass\n",
        "def f():\n    x = await g()\n",
        "import asyncio\n",
        "import time as t\n",
        "from random import choice\n",
        "from aiohttp.web import Request\n",
        "import os, socket\n",
    ],
)
def test_purity_check_catches_violation(source: str) -> None:
    assert _violations(source, "example.py") != []


def test_purity_check_allows_relative_and_stdlib_pure_imports() -> None:
    assert _violations("import hashlib\nfrom . import time\nfrom datetime import date\n", "x") == []
