"""The wheel an operator installs: built from the checkout, installed outside it, run.

The source is copied to a temporary folder first (the build writes ``build/`` and
``*.egg-info`` beside the sources), the wheel built there with pip's own build isolation,
and installed with ``requirements.lock`` as constraints into a fresh venv in another
temporary folder. pip uses whatever indexes and wheel cache the machine is configured
with, so the second run reuses the first one's wheels. Nothing of the checkout is on
``sys.path`` there: every step runs with ``cwd`` in the temporary folder and no
PYTHONPATH, so a template or migration read from the repository would fail here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("core", "bot", "mail", "web", "madoguchi", "migrations", "templates")
FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "requirements.lock")
# What a wheel of another project could also install at the top of site-packages.
GENERIC = ("core", "bot", "mail", "web", "migrations", "templates")


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a step; on failure the assertion shows its output."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built with pip from a copy of the sources."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    for name in SOURCES:
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in FILES:
        shutil.copy2(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    dist = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)], base, env)
    (built,) = dist.glob("madoguchi-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout with the wheel installed (locked versions); its bin/."""
    target = tmp_path_factory.mktemp("venv")
    venv.create(target, with_pip=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, "-c", str(ROOT / "requirements.lock"), str(wheel)], target, env)
    return target / "bin"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith(("SLACK_", "MADOGUCHI_", "DATABASE_"))
    }
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'madoguchi.db'}"
    env["MADOGUCHI_VAR_DIR"] = str(tmp_path / "var")
    return env


def test_the_wheel_holds_one_top_level_package_with_its_templates(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"madoguchi", "madoguchi-0.1.0.dist-info"}
    assert "madoguchi/templates/mail/ja/account_welcome.txt.j2" in names
    assert "madoguchi/templates/web/base.html.j2" in names
    assert "madoguchi/core/messages/common.toml" in names
    assert "madoguchi/migrations/env.py" in names
    assert zipfile.ZipFile(wheel).read("madoguchi-0.1.0.dist-info/top_level.txt").split() == [b"madoguchi"]
    cli = zipfile.ZipFile(wheel).read("madoguchi/cli.py").decode()
    assert "from madoguchi.core.config import " in cli
    assert "\nfrom core." not in cli


def test_the_installed_command_runs_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    env = _env(tmp_path)
    version = _run([str(installed / "madoguchi"), "--version"], tmp_path, env)
    assert version.stdout.strip() == "madoguchi 0.1.0"

    _run([str(installed / "madoguchi"), "db", "upgrade"], tmp_path, env)
    current = _run([str(installed / "madoguchi"), "db", "current"], tmp_path, env)
    assert current.stdout.strip(), current.stderr
    assert (tmp_path / "var" / "madoguchi.db").exists()
    # The demo data and the message catalog come from inside the package too.
    demo = _run([str(installed / "madoguchi"), "demo"], tmp_path, env)
    assert "SK-" in demo.stdout, demo.stdout
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0

    script = (
        "import importlib.util, madoguchi\n"
        "from madoguchi.core.config import Settings\n"
        "from madoguchi.mail.templates import MailTemplates\n"
        "r = MailTemplates(Settings()).render('account_welcome', 'ja', "
        "{'username': 'tanaka', 'company': '顧客A', 'last_name': '田中', 'first_name': '一郎', "
        "'link': 'https://x.example/a', 'expires_at': '2026年12月8日（火）17時30分'})\n"
        "print(r.subject); print(r.text)\n"
        f"print(*[n for n in {GENERIC!r} if importlib.util.find_spec(n)])\n"
        "print(madoguchi.__file__)\n"
    )
    rendered = _run([str(installed / "python"), "-c", script], tmp_path, env).stdout
    assert "Example Solutions" in rendered.splitlines()[0]
    assert "ユーザー名: tanaka" in rendered
    assert "https://x.example/a" in rendered
    *_, generic, location = rendered.splitlines()
    assert generic == ""  # none of the generic names is importable from the venv
    assert str(ROOT) not in location and "site-packages" in location
