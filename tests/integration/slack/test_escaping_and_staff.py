"""The Slack door escapes every value it renders into a sentence or a block (issue 16,
items 1 and 8), and the staff check compares a user together with its workspace."""

from __future__ import annotations

import re

import pytest

from bot import blocks as bk
from bot.staff_posts import build_staff_channel
from core import staff
from core.unit_of_work import Core
from tests import factories
from tests.fakeslack import FakeSlack
from tests.integration.slack.conftest import Slack

LIVE_MARKUP = re.compile(r"<[!@#]|<(?:https?|mailto):", re.I)
HOSTILE = "<!channel><!here><@U0123ABCD><http://evil.example|click>&"


def text_of(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


async def test_an_error_answer_echoing_the_users_argument_escapes_it(slack: Slack) -> None:
    async with slack.door.core.uow() as uow:
        company = await factories.company(uow, "顧客A株式会社")
        await factories.account(
            uow, company, "me@customer-a.example.jp", slack_team_id="T1", slack_user_id="U1"
        )
        await uow.commit()
    answer = await slack.command("/support", "id show <!channel>")
    text = text_of(answer)
    assert "&lt;!channel&gt;" in text and not LIVE_MARKUP.search(str(answer)), answer

    staff_answer = await slack.command("/support-admin", "request show <!here>", user="USTAFF1")
    assert "&lt;!here&gt;" in text_of(staff_answer) and not LIVE_MARKUP.search(str(staff_answer))


async def test_a_staff_alert_escapes_every_parameter(slack_core: Core, fake: FakeSlack) -> None:
    channel = build_staff_channel(slack_core)
    assert channel is not None
    await channel.post(
        "staff_alert",
        "ja",
        {
            "message_id": "contact.alert.sender_capped",
            "params": {"sender": HOSTILE, "limit": HOSTILE, "id": 1},
        },
    )
    [call] = fake.of("chat.postMessage")
    sent = str(call.body)
    assert not LIVE_MARKUP.search(sent), sent
    assert "&lt;!channel&gt;" in sent and "&amp;" in sent
    assert call.body["blocks"][0]["text"].get("verbatim") is True


def test_the_doors_own_markup_is_not_escaped_twice_and_a_mention_is_checked() -> None:
    assert bk.say("slack.usage.prefix", "en", usage=bk.code("/support <x>")) == "Usage: `/support &lt;x&gt;`"
    assert bk.esc(bk.esc("a&b")) == "a&amp;b"
    assert bk.mention("U0123ABCD") == "<@U0123ABCD>"
    assert bk.mention("<!channel>") == "&lt;!channel&gt;"


@pytest.mark.parametrize(
    ("entry", "team", "staff_expected"),
    [
        ("T1:USTAFF9", "T1", True),
        ("T1:USTAFF9", "T2", False),  # the same user id in another workspace is somebody else
        ("USTAFF9", "T2", True),  # single-workspace mode: a plain entry names the one workspace's user
    ],
)
async def test_the_staff_check_compares_the_user_with_its_team(
    slack: Slack, entry: str, team: str, staff_expected: bool
) -> None:
    slack.door.core.settings.staff_users = frozenset({entry})
    text = text_of(await slack.command("/support-admin", "help", user="USTAFF9", team=team))
    assert ("この操作はスタッフのみ行えます。" not in text) is staff_expected, text


def test_with_oauth_installations_a_plain_entry_names_nobody(slack_core: Core) -> None:
    oauth = slack_core.settings.model_copy(
        update={
            "slack_client_id": "1.2",
            "slack_client_secret": "s",
            "staff_users": frozenset({"USTAFF1", "T7:USTAFF7"}),
        }
    )
    assert not staff.is_staff_slack_user(oauth, "T1", "USTAFF1")
    assert staff.is_staff_slack_user(oauth, "T7", "USTAFF7")
    assert not staff.is_staff_slack_user(oauth, "T8", "USTAFF7")
    assert not staff.is_staff_slack_user(oauth, "", "")
