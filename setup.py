"""Ships the top-level schema/ folder inside the installed package.

Everything else is configured in pyproject.toml. The deltas stay at the top of
the source tree (schema/deltas/) where people look for them; a built wheel
carries a copy at homeserver/storage/schema/, which migrate.py looks up first.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithSchema(build_py):
    def run(self) -> None:
        super().run()
        source = Path(__file__).parent / "schema"
        if source.is_dir() and not self.editable_mode:
            target = Path(self.build_lib) / "homeserver" / "storage" / "schema"
            self.copy_tree(str(source), str(target))


setup(cmdclass={"build_py": BuildPyWithSchema})
