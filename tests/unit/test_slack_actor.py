"""The Slack door's actor reference is made and read in the door (bot.who); the core
gets the Slack user as plain values."""

from __future__ import annotations

from bot.who import slack_actor


def test_a_slack_actor_carries_its_reference_and_its_slack_user() -> None:
    actor = slack_actor("anonymous", "T012AB", "U034CD", "en")
    assert actor.ref == "slack:T012AB:U034CD" and actor.door == "slack" and actor.locale == "en"
    assert actor.slack_user == ("T012AB", "U034CD")
    assert actor.account_id is None and not actor.is_staff


def test_an_account_or_staff_actor_keeps_its_kind_and_account() -> None:
    assert slack_actor("account", "T1", "U1", "ja", 42).account_id == 42
    assert slack_actor("staff", "T1", "USTAFF1", "ja").is_staff


def test_a_malformed_slack_id_is_not_passed_on_to_the_core() -> None:
    for team, user in (("", "U1"), ("T1", ""), ("t1", "U1"), ("T1", "U1:U2"), ("T1", "U 1")):
        actor = slack_actor("anonymous", team, user, "ja")
        assert actor.ref == f"slack:{team}:{user}"
        assert actor.slack_user is None
