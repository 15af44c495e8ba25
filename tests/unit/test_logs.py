"""Log lines are JSON and never carry a link token, a Slack token or a support key."""

from __future__ import annotations

import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from madoguchi.logs import _SECRET_PATTERNS, JsonFormatter, scrub


def _line(msg: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    result: dict[str, object] = json.loads(JsonFormatter().format(record))
    return result


def test_a_log_line_is_one_json_object_with_its_extra_fields() -> None:
    line = _line("http request", route="/healthz", status=200)
    assert line["msg"] == "http request"
    assert line["route"] == "/healthz"
    assert line["status"] == 200
    assert line["level"] == "info"


def test_secrets_are_scrubbed_from_messages_and_fields() -> None:
    token = "Zq3kP9xYw2LmN8vB4tR6uE1oI7aS5dF0gH2jK4lM6nO"
    line = _line(
        "failed %s",
        f"http://127.0.0.1:3000/activate/{token}",
        url=f"https://x.example/reset/{token}",
        slack="xoxb-123-456-abcdef",
        relay="smtp://user:hunter2@relay.example:587",
        key="SK-7Q2M-4TXA-9KPL",
    )
    text = json.dumps(line)
    for secret in (token, "xoxb-123-456-abcdef", "hunter2", "SK-7Q2M-4TXA-9KPL"):
        assert secret not in text


@settings(max_examples=300)
@given(data=st.data())
def test_every_secret_a_pattern_finds_holds_a_dash_or_a_slash(data: st.DataObject) -> None:
    """``scrub`` lets a text without "-" or "/" through unsearched: sound only while no
    pattern can match without one."""
    pattern, _replacement = data.draw(st.sampled_from(_SECRET_PATTERNS))
    secret = data.draw(st.from_regex(pattern, fullmatch=True))
    assert "-" in secret or "/" in secret
    assert scrub(f"before {secret} after") != f"before {secret} after"
