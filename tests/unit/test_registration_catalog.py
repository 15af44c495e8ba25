"""Every id the registration machine can hand a door is in the catalog, in both languages."""

from __future__ import annotations

import typing

from core import contact_details, registration
from core.messages import render


def test_every_step_has_a_title_of_at_most_24_characters_and_a_hint() -> None:
    for step in typing.get_args(registration.Step):
        for locale in ("ja", "en"):
            assert len(render(f"registration.step.{step}", locale)) <= 24  # Slack's modal title limit
            assert render(
                f"registration.hint.{step}", locale, count=1, username="u@x.jp", contact_address="c"
            )


def test_every_action_and_field_has_a_label() -> None:
    actions = {a for step in registration.ACTIONS.values() for a in step}
    for action in actions:
        assert render(f"registration.action.{action}", "en")
    for name in ("support_key", "company_name", "company_area", *contact_details.FIELDS):
        assert render(f"registration.field.{name}", "ja")


def test_every_refusal_has_a_message() -> None:
    ids = [
        contact_details.REQUIRED,
        contact_details.TOO_LONG,
        contact_details.KANA,
        contact_details.POSTAL_CODE,
        contact_details.PREFECTURE,
        contact_details.PHONE,
        contact_details.EMAIL,
        contact_details.EMAIL_ROLE,
        contact_details.EMAIL_TAKEN,
        contact_details.CONSENT,
        registration.EXPIRED,
        registration.NOT_YOURS,
        registration.WRONG_STEP,
        registration.ALREADY_REGISTERED,
        registration.PICK_INVALID,
    ]
    for message_id in ids:
        assert render(message_id, "ja") and render(message_id, "en")


def test_the_done_sentence_is_the_spec_wording() -> None:
    text = render("registration.done", "ja", vendor="Example Solutions", service="サポート・お問い合わせ")
    assert text == "Example Solutions「サポート・お問い合わせ」に登録いたしました。"
