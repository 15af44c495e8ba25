"""The app manifest declares what the Slack door listens to."""

from __future__ import annotations

from pathlib import Path

MANIFEST = (Path(__file__).resolve().parents[2] / "slack" / "manifest.yml").read_text(encoding="utf-8")


def test_the_manifest_declares_both_commands_on_the_events_url() -> None:
    assert "command: /support\n" in MANIFEST
    assert "command: /support-admin\n" in MANIFEST
    # two commands, events, interactivity and its menu options (account create's company menu)
    assert MANIFEST.count("/slack/events") == 5


def test_the_manifest_subscribes_to_app_home_and_direct_messages_with_interactivity() -> None:
    for needle in ("- app_home_opened", "- message.im", "is_enabled: true", "home_tab_enabled: true"):
        assert needle in MANIFEST


def test_the_manifest_asks_for_the_scopes_the_bot_uses() -> None:
    from bot.app import BOT_SCOPES

    for scope in BOT_SCOPES:
        assert f"      - {scope}\n" in MANIFEST
