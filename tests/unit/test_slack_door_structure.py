"""The Slack door's own layout: listeners share code through ``bot.commands`` and
``bot.views`` only, imports are at the top of a module unless a comment says why, and
only ``bot.blocks`` renders the catalog (so every parameter is escaped in one place)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"
LISTENERS = sorted(p for p in (BOT / "listeners").glob("*.py") if p.name != "__init__.py")


def imported_modules(source: str) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.extend([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
    return names


def listener_imports(source: str, own: str) -> list[str]:
    """Listener modules imported by the module ``own`` (``import`` or ``from``)."""
    return sorted(
        {
            ".".join(name.split(".")[:3])
            for name in imported_modules(source)
            if name.startswith("bot.listeners.") and name.split(".")[2] != own
        }
    )


def hidden_imports(source: str) -> list[int]:
    """Lines of imports inside a function with no comment above them (one comment may
    stand above a run of imports). Module-level ``if TYPE_CHECKING:`` imports are fine."""
    lines = source.splitlines()
    found: list[int] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import | ast.ImportFrom):
                row = inner.lineno - 2
                while row >= 0 and lines[row].strip().startswith(("import ", "from ")):
                    row -= 1
                if row < 0 or not lines[row].strip().startswith("#"):
                    found.append(inner.lineno)
    return found


def catalog_imports(source: str) -> list[str]:
    """What a module imports from the message catalog (its unescaped ``render``)."""
    return sorted({name for name in imported_modules(source) if name.startswith("core.messages")})


@pytest.mark.parametrize(
    "path",
    sorted(p for p in BOT.rglob("*.py") if p != BOT / "blocks.py"),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_bot_blocks_renders_the_catalog(path: Path) -> None:
    assert catalog_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", LISTENERS, ids=lambda p: p.name)
def test_no_listener_imports_another_listener(path: Path) -> None:
    assert listener_imports(path.read_text(encoding="utf-8"), path.stem) == []


@pytest.mark.parametrize("path", sorted(BOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_hides_inside_a_function_without_a_reason(path: Path) -> None:
    assert hidden_imports(path.read_text(encoding="utf-8")) == []


def test_the_rules_catch_planted_violations() -> None:
    planted = (
        "from bot.listeners.support import route\n"
        "from bot.listeners import home\n"
        "def register(door):\n"
        "    from bot.listeners.registration import open_registration\n"
        "    # Socket Mode only.\n"
        "    import slack_bolt\n"
        "    import slack_sdk\n"
    )
    assert listener_imports(planted, "admin") == [
        "bot.listeners.home",
        "bot.listeners.registration",
        "bot.listeners.support",
    ]
    assert hidden_imports(planted) == [4]
    assert catalog_imports("from core.messages import render\nimport core.messages\n") == [
        "core.messages",
        "core.messages.render",
    ]
    assert len(LISTENERS) >= 5
