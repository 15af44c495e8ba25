"""``madoguchi check``: one verdict per part, asked for real (the database, an SMTP relay
on loopback, the fake Slack Web API), a FAIL saying what to do, exit 1 on any FAIL, and
no secret from the configuration on the screen."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from core.config import Settings
from core.storage import create_engine
from madoguchi import check
from migrations import upgrade
from tests.fakeslack import FakeSlack
from tests.integration.mail.conftest import Sink, free_port, start_sink

BOT_TOKEN = "xoxb-check-bot-token-1234"


@pytest.fixture
def relay() -> Iterator[Sink]:
    handler = Sink()
    controller = start_sink(handler)
    try:
        yield handler
    finally:
        controller.stop()


async def run(settings: Settings) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = await check.run(lambda: settings, out=out)
    return code, out.getvalue().splitlines()


def verdicts(lines: list[str]) -> list[str]:
    return [line.split()[0] for line in lines[:-1]]


async def test_every_part_ok_with_relay_and_slack_token(
    settings: Settings, relay: Sink, fake: FakeSlack
) -> None:
    configured = settings.model_copy(
        update={
            "relay_url": f"smtp://127.0.0.1:{relay.port}",
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": "secret",
            "slack_api_url": fake.url,
            "locale": "en",
        }
    )
    code, lines = await run(configured)
    assert code == 0, lines
    assert verdicts(lines) == ["OK", "OK", "OK", "OK"]
    assert "schema at head" in lines[1]
    assert f"relay 127.0.0.1:{relay.port} answered EHLO and NOOP (250" in lines[2]
    assert "workspace T1, bot UBOT" in lines[3]
    assert lines[-1] == "All checks passed."
    assert relay.connections == 1 and relay.messages == []  # greeted, nothing sent
    auth = [call for call in fake.calls if call.method == "auth.test"]
    assert len(auth) == 1 and BOT_TOKEN in auth[0].headers.get("Authorization", "")


async def test_without_relay_the_eml_folder_must_be_writable(settings: Settings, tmp_path: Path) -> None:
    code, lines = await run(settings)
    assert code == 0, lines
    assert verdicts(lines) == ["OK", "OK", "OK", "SKIP"]  # no Slack credentials: the door is off
    assert ".eml" in lines[2] and "MADOGUCHI_RELAY_URL" in lines[2]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, lines = await run(settings.model_copy(update={"outbox_dir": blocker / "outbox"}))
    assert code == 1
    assert lines[2].startswith("FAIL") and "MADOGUCHI_RELAY_URL" in lines[2] and str(blocker) in lines[2]


async def test_a_relay_that_does_not_answer_fails_without_showing_its_password(settings: Settings) -> None:
    url = f"smtp://mailer:hunter2-secret@127.0.0.1:{free_port()}"
    code, lines = await run(settings.model_copy(update={"relay_url": url, "locale": "en"}))
    assert code == 1
    assert lines[2].startswith("FAIL") and "cannot talk to relay" in lines[2]
    assert "Check MADOGUCHI_RELAY_URL" in lines[2]
    assert "hunter2-secret" not in "\n".join(lines)
    assert lines[-1] == "1 checks failed: follow the FAIL lines above."


async def test_a_relay_url_of_another_scheme_fails(settings: Settings) -> None:
    code, lines = await run(settings.model_copy(update={"relay_url": "http://relay.example", "locale": "en"}))
    assert code == 1
    assert lines[2] == "FAIL  outgoing mail: MADOGUCHI_RELAY_URL must start with smtp:// or smtp+starttls://."


async def test_a_token_slack_refuses_fails_with_slacks_reason(settings: Settings, fake: FakeSlack) -> None:
    fake.answers["auth.test"] = lambda call: {"ok": False, "error": "invalid_auth"}
    configured = settings.model_copy(
        update={"slack_bot_token": BOT_TOKEN, "slack_signing_secret": "s", "slack_api_url": fake.url}
    )
    code, lines = await run(configured)
    assert code == 1
    assert lines[3].startswith("FAIL") and "invalid_auth" in lines[3] and "SLACK_BOT_TOKEN" in lines[3]
    assert BOT_TOKEN not in "\n".join(lines)


async def test_socket_mode_checks_the_app_token_too(settings: Settings, fake: FakeSlack) -> None:
    configured = settings.model_copy(
        update={"slack_bot_token": BOT_TOKEN, "slack_app_token": "xapp-1-A1-2-abc", "slack_api_url": fake.url}
    )
    fake.answers["apps.connections.open"] = lambda call: {"ok": False, "error": "invalid_auth"}
    code, lines = await run(configured)
    assert code == 1 and lines[3].startswith("FAIL") and "invalid_auth" in lines[3]
    assert fake.methods() == ["auth.test", "apps.connections.open"]


async def test_an_unreachable_slack_api_fails(settings: Settings) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}/api/"
    configured = settings.model_copy(
        update={"slack_bot_token": BOT_TOKEN, "slack_signing_secret": "s", "slack_api_url": unreachable}
    )
    code, lines = await run(configured)
    assert code == 1
    assert lines[3].startswith("FAIL") and "SLACK_API_URL" in lines[3]


async def test_a_database_without_schema_or_behind_says_db_upgrade(
    settings: Settings, tmp_path: Path
) -> None:
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    code, lines = await run(settings.model_copy(update={"database_url": empty}))
    assert code == 1
    assert lines[1].startswith("FAIL") and "`madoguchi db upgrade`" in lines[1]
    engine = create_engine(empty)
    try:
        await upgrade(engine, "0001")
    finally:
        await engine.dispose()
    code, lines = await run(settings.model_copy(update={"database_url": empty, "locale": "en"}))
    assert code == 1
    assert lines[1].startswith("FAIL  database: schema at 0001, this version needs ")
    assert lines[1].endswith("run `madoguchi db upgrade`.")


async def test_an_unreachable_database_fails_without_showing_its_password(settings: Settings) -> None:
    url = f"postgresql+asyncpg://madoguchi:pg-pass-word@127.0.0.1:{free_port()}/madoguchi"
    code, lines = await run(settings.model_copy(update={"database_url": url}))
    assert code == 1
    assert lines[1].startswith("FAIL") and "DATABASE_URL" in lines[1]
    assert "pg-pass-word" not in "\n".join(lines)


async def test_postgresql_without_a_secret_key_fails_the_configuration(settings: Settings) -> None:
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        url = make_url(f"postgresql+asyncpg://madoguchi@127.0.0.1:{free_port()}/madoguchi")
    code, lines = await run(
        settings.model_copy(
            update={"database_url": url.render_as_string(hide_password=False), "secret_key": None}
        )
    )
    assert code == 1
    assert lines[0].startswith("FAIL") and "MADOGUCHI_SECRET_KEY" in lines[0]


async def test_a_setting_that_does_not_parse_fails_and_skips_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MADOGUCHI_LOCALE", "en")  # the language comes from the environment then

    def load() -> Settings:
        return Settings(MADOGUCHI_CUTOFF="half past five", _env_file=None)  # type: ignore[call-arg]

    out = io.StringIO()
    code = await check.run(load, out=out)
    lines = out.getvalue().splitlines()
    assert code == 1
    assert lines[0].startswith("FAIL  configuration: MADOGUCHI_CUTOFF is not valid (")
    assert "half past five" not in lines[0]  # the reason, never the value given
    assert verdicts(lines)[1:] == ["SKIP", "SKIP", "SKIP"]


def test_the_command_exits_non_zero_on_a_fail_and_prints_the_version(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MADOGUCHI_", "DATABASE_URL"))}
    env |= {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'none.db'}", "MADOGUCHI_LOCALE": "en"}
    done = subprocess.run(
        [sys.executable, "-m", "madoguchi", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "FAIL  database: reachable but empty: run `madoguchi db upgrade`." in done.stdout
    version = subprocess.run(
        [sys.executable, "-m", "madoguchi", "--version"], env=env, capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0
    assert version.stdout.startswith("madoguchi ") and len(version.stdout.split()) == 2


async def test_a_token_without_its_signing_secret_fails_before_asking_slack(
    settings: Settings, fake: FakeSlack
) -> None:
    configured = settings.model_copy(update={"slack_bot_token": BOT_TOKEN, "slack_api_url": fake.url})
    code, lines = await run(configured)
    assert code == 1
    assert lines[3].startswith("FAIL") and "SLACK_SIGNING_SECRET" in lines[3]
    assert fake.methods() == []
