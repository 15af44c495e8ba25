"""Both app manifests (HTTP ``slack/manifest.yml`` and Socket Mode
``slack/manifest.socket.yml``) are valid YAML and declare exactly what the code uses:
every slash command and event it listens to, and the bot scopes of every Web API method
it calls. Read from the code itself, so a new listener or call without its manifest line
fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import BOT_SCOPES

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = {"http": ROOT / "slack" / "manifest.yml", "socket": ROOT / "slack" / "manifest.socket.yml"}

# Bot scope each Web API method needs (None: none). A method missing here fails the test:
# look its scope up on api.slack.com/methods and add it, and the scope to both manifests.
METHOD_SCOPES: dict[str, str | None] = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "conversations_open": "im:write",
    "files_upload_v2": "files:write",
    "users_info": "users:read",
    "views_open": None,
    "views_update": None,
    "views_publish": None,
    "views_push": None,
    "auth_test": None,
    "files_info": "files:read",
    "apps_connections_open": None,  # the app-level token's connections:write, not a bot scope
}
# Events as the code names them → the subscription in the manifest, and the scope it needs.
EVENT_SUBSCRIPTIONS = {"message": ("message.im", "im:history"), "app_home_opened": ("app_home_opened", None)}
# A ``message`` listener whose matcher takes replies in channel threads (staff chatter
# under an inquiry's post): messages of public and private channels, and their history.
CHANNEL_THREADS = re.compile(r"app\.event\(\"message\", matchers=\[in_a_thread\]\)")
CHANNEL_EVENTS = {"message.channels": "channels:history", "message.groups": "groups:history"}


def code() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "bot").rglob("*.py")))


def commands_in_code() -> set[str]:
    return set(re.findall(r"app\.command\(\"([^\"]+)\"\)", code()))


def events_in_code() -> set[str]:
    source = code()
    events = {
        EVENT_SUBSCRIPTIONS.get(e, (e, None))[0] for e in re.findall(r"app\.event\(\"([^\"]+)\"\)", source)
    }
    if "enable_token_revocation_listeners()" in source:
        events |= {"app_uninstalled", "tokens_revoked"}
    if CHANNEL_THREADS.search(source):
        events |= set(CHANNEL_EVENTS)
    return events


def scopes_in_code() -> set[str]:
    source = code()
    methods = set(re.findall(r"client\.([a-z]+_[A-Za-z0-9_]+)\(", source))
    unknown = methods - METHOD_SCOPES.keys()
    assert not unknown, f"add the scopes of {sorted(unknown)} to METHOD_SCOPES"
    scopes = {METHOD_SCOPES[m] for m in methods}
    if commands_in_code():
        scopes.add("commands")
    for event in re.findall(r"app\.event\(\"([^\"]+)\"\)", source):
        scopes.add(EVENT_SUBSCRIPTIONS.get(event, (event, None))[1])
    if CHANNEL_THREADS.search(source):
        scopes |= set(CHANNEL_EVENTS.values())
    return {s for s in scopes if s}


def manifest(kind: str) -> dict[str, Any]:
    data = yaml.safe_load(MANIFESTS[kind].read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_code_is_read() -> None:
    assert commands_in_code() == {"/support", "/support-admin"}
    assert {"app_home_opened", "message.im", "app_uninstalled", "tokens_revoked"} <= events_in_code()
    assert {"message.channels", "message.groups"} <= events_in_code()
    assert {"chat:write", "users:read", "channels:history", "groups:history"} <= scopes_in_code()


@pytest.mark.parametrize("kind", MANIFESTS)
def test_a_manifest_declares_every_command_event_and_scope_the_code_uses(kind: str) -> None:
    data = manifest(kind)
    assert {c["command"] for c in data["features"]["slash_commands"]} == commands_in_code()
    assert set(data["settings"]["event_subscriptions"]["bot_events"]) == events_in_code()
    assert set(data["oauth_config"]["scopes"]["bot"]) == scopes_in_code() == set(BOT_SCOPES)
    assert data["settings"]["interactivity"]["is_enabled"] is True  # app.action / app.view
    assert data["features"]["app_home"]["home_tab_enabled"] is True


def test_the_http_manifest_points_every_url_at_the_events_endpoint() -> None:
    data = manifest("http")
    assert data["settings"]["socket_mode_enabled"] is False
    urls = [c["url"] for c in data["features"]["slash_commands"]]
    urls += [
        data["settings"]["event_subscriptions"]["request_url"],
        data["settings"]["interactivity"]["request_url"],
        data["settings"]["interactivity"]["message_menu_options_url"],
    ]
    assert urls and all(u == "https://madoguchi.example.com/slack/events" for u in urls)


def test_the_socket_mode_manifest_has_no_public_url() -> None:
    data = manifest("socket")
    assert data["settings"]["socket_mode_enabled"] is True
    assert (
        "url" not in MANIFESTS["socket"].read_text(encoding="utf-8").replace("_url", "").lower().split("#")[0]
    )
    assert "request_url" not in data["settings"]["event_subscriptions"]
    assert "request_url" not in data["settings"]["interactivity"]
    assert "message_menu_options_url" not in data["settings"]["interactivity"]
    assert all("url" not in c for c in data["features"]["slash_commands"])


def test_the_two_manifests_differ_only_in_how_slack_reaches_the_app() -> None:
    def strip(data: dict[str, Any]) -> dict[str, Any]:
        data["settings"].pop("socket_mode_enabled")
        data["settings"]["event_subscriptions"].pop("request_url", None)
        data["settings"]["interactivity"].pop("request_url", None)
        data["settings"]["interactivity"].pop("message_menu_options_url", None)
        data["oauth_config"].pop("redirect_urls", None)
        for command in data["features"]["slash_commands"]:
            command.pop("url", None)
        return data

    assert strip(manifest("http")) == strip(manifest("socket"))
