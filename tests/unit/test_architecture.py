"""The house rules of the code, read from its imports and attribute accesses (no I/O
beyond reading the source files).

- core/ imports no door (bot, mail, web) and not the composition root (madoguchi), nor
  the protocol libraries the doors speak (Slack, aiosmtpd, aiosmtplib, aiohttp).
- A door imports no other door and not the root.
- Dynamic imports (``importlib.import_module``, ``__import__``) only in the root.
- Private attributes of other people's objects (``obj._x`` where ``_x`` is defined
  nowhere in this code) only inside the storage fence (core/storage/) and the SMTP
  protocol module (mail/smtp_protocol.py), which name the upstream versions they mirror.
- No module in core/, bot/, mail/ over 600 lines unless its docstring says why
  ("Why this module is long:").

Each rule is a function over ``{path: source}``; every rule is also run on a planted
violation, so a rule that stopped seeing anything would fail here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "bot", "mail", "web", "madoguchi")
DOORS = ("bot", "mail", "web")
COMPOSITION_ROOT = "madoguchi"
PROTOCOL_LIBRARIES = ("slack_bolt", "slack_sdk", "aiosmtpd", "aiosmtplib", "aiohttp")
# Where a library's internals may be read, each naming the upstream version it mirrors:
# the storage fence (SQLAlchemy's adapters), aiosmtpd's protocol, and bot/bolt_fence.py,
# which mirrors AsyncApp's dispatch (slack-bolt 1.30) and so reads its attributes.
FENCED = ("core/storage/", "mail/smtp_protocol.py", "bot/bolt_fence.py")
# Public APIs spelled with one underscore so they cannot clash with field names:
# SQLAlchemy's Row and namedtuples (_mapping, _asdict, _fields, _replace, _make, _t,
# _tuple) and os._exit (end a process without clean-up).
PUBLIC_UNDERSCORED = frozenset(
    {"_mapping", "_asdict", "_fields", "_replace", "_make", "_t", "_tuple", "_exit"}
)
MAX_LINES = 600
LONG_REASON = "Why this module is long:"

Sources = Mapping[str, str]


@cache
def tree() -> dict[str, str]:
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
    return found


def _package(path: str) -> str:
    return path.split("/", 1)[0]


def _module(path: str) -> list[str]:
    parts = path.removesuffix(".py").split("/")
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports(path: str, source: str) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports (anywhere in it, not only at the top), absolute."""
    for node in ast.walk(_parsed(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                here = _module(path)
                if not path.endswith("__init__.py"):
                    here = here[:-1]
                base = here[: len(here) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from core import contact_window` names a module too
                yield node.lineno, f"{module}.{alias.name}"


def layering(sources: Sources) -> list[str]:
    found = []
    for path, source in sources.items():
        home = _package(path)
        for line, module in imports(path, source):
            top = module.split(".", 1)[0]
            if home == "core" and (top in (*DOORS, COMPOSITION_ROOT) or top in PROTOCOL_LIBRARIES):
                found.append(f"{path}:{line}: core imports {module}")
            elif home in DOORS and top != home and top in (*DOORS, COMPOSITION_ROOT):
                found.append(f"{path}:{line}: the {home} door imports {module}")
    return found


def dynamic_imports(sources: Sources) -> list[str]:
    found = []
    for path, source in sources.items():
        if _package(path) == COMPOSITION_ROOT:
            continue
        for node in ast.walk(_parsed(source)):
            name = None
            if isinstance(node, ast.Name) and node.id == "__import__":
                name = "__import__"
            elif isinstance(node, ast.Attribute) and node.attr == "import_module":
                name = "import_module"
            elif isinstance(node, ast.ImportFrom) and node.module == "importlib":
                names = {a.name for a in node.names}
                if names - {"resources", "metadata"}:  # reading package data is not importing
                    name = "importlib." + ",".join(sorted(names))
            elif isinstance(node, ast.Import) and any(a.name == "importlib" for a in node.names):
                name = "importlib"
            if name is not None:
                found.append(f"{path}:{getattr(node, 'lineno', 0)}: {name}")
    return found


@cache
def _parsed(source: str) -> ast.Module:
    return ast.parse(source)


def _own_names(sources: Sources) -> set[str]:
    """Every name this code defines: functions, classes, attributes it assigns, fields,
    parameters — a private name among them is ours to use."""
    names: set[str] = set()
    for source in sources.values():
        for node in ast.walk(_parsed(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_UNDERSCORED


def private_access(sources: Sources, own: set[str] | None = None) -> list[str]:
    own = _own_names(sources) if own is None else own
    found = []
    for path, source in sources.items():
        if path.startswith(FENCED):
            continue
        for node in ast.walk(_parsed(source)):
            name = None
            if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
                name = node.attr
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "setattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and _private(node.args[1].value)
                and node.args[1].value not in own
            ):
                name = node.args[1].value
            if name is not None:
                found.append(f"{path}:{node.lineno}: ._{name.lstrip('_')} of a third-party object")
    return found


def long_modules(sources: Sources) -> list[str]:
    found = []
    for path, source in sources.items():
        if _package(path) not in ("core", "bot", "mail"):
            continue
        lines = source.count("\n") + 1
        if lines > MAX_LINES and LONG_REASON not in (ast.get_docstring(_parsed(source)) or ""):
            found.append(f"{path}: {lines} lines and no '{LONG_REASON}' in its docstring")
    return found


# -- the real tree -------------------------------------------------------------------


def test_core_imports_no_door_no_root_and_no_protocol_library() -> None:
    assert [v for v in layering(tree()) if ": core imports " in v] == []


def test_no_door_imports_another_door_or_the_root() -> None:
    assert [v for v in layering(tree()) if " door imports " in v] == []


def test_only_the_composition_root_imports_dynamically() -> None:
    assert dynamic_imports(tree()) == []


def test_private_internals_of_libraries_are_touched_only_inside_the_fences() -> None:
    assert private_access(tree()) == []


def test_every_fenced_module_names_the_upstream_version_it_mirrors() -> None:
    for path, source in tree().items():
        touches = private_access({path: source}, _own_names(tree()))
        if path.startswith(FENCED) and touches:
            assert "Mirrors " in (ast.get_docstring(_parsed(source)) or ""), path


def test_no_long_module_without_a_reason() -> None:
    assert long_modules(tree()) == []


# -- planted violations: each rule sees what it is for --------------------------------


def test_a_planted_door_import_in_core_is_found() -> None:
    planted = {"core/x.py": "def f():\n    from bot.app import SlackDoor\n"}
    assert layering(planted) == [
        "core/x.py:2: core imports bot.app",
        "core/x.py:2: core imports bot.app.SlackDoor",
    ]
    assert layering({"core/y.py": "import aiohttp.web\n"}) == ["core/y.py:1: core imports aiohttp.web"]
    assert layering({"core/z.py": "from madoguchi import components\n"})


def test_a_planted_door_to_door_or_root_import_is_found() -> None:
    assert layering({"mail/x.py": "from bot import staff_posts\n"})
    assert layering({"web/x.py": "from madoguchi.components import Runtime\n"})
    assert layering({"bot/listeners/x.py": "from .. import blocks\nfrom ...mail import smtp\n"}) == [
        "bot/listeners/x.py:2: the bot door imports mail",
        "bot/listeners/x.py:2: the bot door imports mail.smtp",
    ]
    assert layering({"bot/x.py": "from bot import blocks\nfrom core import audit\n"}) == []


def test_a_planted_dynamic_import_is_found_outside_the_root_only() -> None:
    planted = "import importlib\nm = importlib.import_module('bot.staff_posts')\n"
    assert len(dynamic_imports({"mail/x.py": planted})) == 2
    assert dynamic_imports({"core/x.py": "x = __import__('core.accounts')\n"})
    assert dynamic_imports({"core/x.py": "from importlib import import_module\n"})
    assert dynamic_imports({"core/x.py": "from importlib import resources\n"}) == []
    assert dynamic_imports({"madoguchi/x.py": planted}) == []


def test_a_planted_private_access_is_found_outside_the_fences_only() -> None:
    planted = "def f(pool, core):\n    n = pool._max_overflow\n    setattr(core, '_lock', 1)\n"
    assert len(private_access({"core/x.py": planted}, own=set())) == 2
    assert private_access({"core/storage/x.py": planted}, own=set()) == []
    assert private_access({"mail/smtp_protocol.py": planted}, own=set()) == []
    ours = "class A:\n    def __init__(self):\n        self._n = 1\n\ndef f(a):\n    return a._n\n"
    assert private_access({"core/x.py": ours}) == []


def test_a_planted_long_module_needs_a_reason() -> None:
    body = "x = 1\n" * MAX_LINES
    assert long_modules({"core/x.py": '"""Rules."""\n' + body})
    assert long_modules({"core/x.py": f'"""Rules.\n\n{LONG_REASON} one table."""\n' + body}) == []
    assert long_modules({"tests/x.py": body}) == []


def test_the_rules_read_the_real_tree() -> None:
    sources = tree()
    assert len(sources) > 50
    assert {"core/unit_of_work.py", "bot/app.py", "mail/parse.py", "madoguchi/cli.py"} <= set(sources)
