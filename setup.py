"""Build hook: the wheel installs one top-level package, ``madoguchi``.

The repository keeps the layout fixed by the product owner (SPEC §1): ``core/``, ``bot/``,
``mail/``, ``web/``, ``migrations/`` and ``templates/`` at the root, imported as ``core``,
``bot``… by the code, the tests and the editable install of a checkout. Installed as they
are, those generic names would land in site-packages beside other projects' ``core`` or
``web``. So a wheel build (never an editable install) moves them under ``madoguchi/`` and
rewrites the absolute imports of the moved and root modules — ``from core.x import y``
becomes ``from madoguchi.core.x import y`` — and copies ``templates/`` to
``madoguchi/templates/``. Each package keeps its place relative to the others, so code that
finds a sibling folder by path (``core/templates.py``: ``core/../templates``;
``migrations/``: its own folder) works unchanged in both. The rewrite touches import
statements only, found with ``ast``; an import form it does not know stops the build
instead of shipping a module that fails later (tests/e2e/test_wheel.py installs the wheel
outside the checkout and runs it). docs/operations.md, "Installing from the wheel", and
docs/architecture.md, "The wheel".
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info

ROOT = "madoguchi"
NESTED = ("core", "bot", "mail", "web", "migrations")
HERE = Path(__file__).resolve().parent


def nest_imports(source: str, filename: str = "<module>") -> str:
    """``source`` with every absolute import of a nested package moved under ``madoguchi.``."""
    lines = source.splitlines(keepends=True)
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] in NESTED for a in node.names):
            raise SystemExit(f"{filename}:{node.lineno}: use 'from {node.names[0].name} import …'")
        if not isinstance(node, ast.ImportFrom) or node.level or node.module is None:
            continue
        if node.module.split(".")[0] not in NESTED:
            continue
        i, col = node.lineno - 1, node.col_offset
        head = re.match(r"from\s+", lines[i][col:])
        if head is None or not lines[i][col + head.end() :].startswith(node.module):
            raise SystemExit(f"{filename}:{node.lineno}: cannot rewrite this import")
        at = col + head.end()
        lines[i] = f"{lines[i][:at]}{ROOT}.{lines[i][at:]}"
    return "".join(lines)


class BuildPy(build_py):
    """``build_py`` as usual, then the nesting above (not in editable mode: a checkout
    imports its folders by their own names)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        lib = Path(self.build_lib)
        for name in NESTED:
            target = lib / ROOT / name
            if target.exists():
                shutil.rmtree(target)
            if (lib / name).exists():
                shutil.move(str(lib / name), str(target))
        templates = lib / ROOT / "templates"
        if templates.exists():
            shutil.rmtree(templates)
        shutil.copytree(HERE / "templates", templates)
        for path in (lib / ROOT).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            nested = nest_imports(text, str(path))
            if nested != text:
                path.write_text(nested, encoding="utf-8")


class EggInfo(egg_info):
    """The metadata's ``top_level.txt`` names what a wheel installs: ``madoguchi`` alone."""

    def run(self) -> None:
        super().run()
        if "editable_wheel" not in self.distribution.commands:
            (Path(self.egg_info) / "top_level.txt").write_text(ROOT + "\n", encoding="utf-8")


setup(cmdclass={"build_py": BuildPy, "egg_info": EggInfo})
