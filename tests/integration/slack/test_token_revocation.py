"""One workspace (a bot token from the environment): uninstalling the app or revoking its
tokens is acked, so Slack does not count the event as failed, and said in the log, so
the operator learns why every Web API call will fail from now on. (OAuth mode forgets
the workspace's stored token: tests/integration/slack/test_oauth.py.)"""

from __future__ import annotations

import logging

import pytest

from tests.integration.slack.conftest import Slack


@pytest.mark.parametrize(
    "event",
    [{"type": "app_uninstalled"}, {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}],
)
async def test_a_revoked_token_is_acked_and_logged_as_a_warning(
    slack: Slack, caplog: pytest.LogCaptureFixture, event: dict[str, object]
) -> None:
    caplog.set_level(logging.WARNING, logger="madoguchi.slack")
    await slack.event(event)  # asserts the 200
    warnings = [r for r in caplog.records if "SLACK_BOT_TOKEN no longer works" in r.getMessage()]
    assert len(warnings) == 1
    assert str(event["type"]) in warnings[0].getMessage()
    assert "chat.postMessage" not in slack.fake.methods()  # nothing sent to a workspace that is gone
