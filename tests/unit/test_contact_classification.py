"""Classification of contact-window mail, in Japanese and English phrasing."""

from __future__ import annotations

import pytest

from core.contact_window import classify


@pytest.mark.parametrize(
    ("subject", "body", "category"),
    [
        ("ユーザー名を忘れました", "", "forgot_username"),
        ("ログインIDについて", "ログインIDがわかりません。", "forgot_username"),
        ("Forgot username", "", "forgot_username"),
        ("Help", "I don't know my username for the portal.", "forgot_username"),
        ("パスワード", "パスワードを忘れてしまいました。", "forgot_password"),
        ("ログインできません", "", "forgot_password"),
        ("Password reset please", "", "forgot_password"),
        ("Help", "I can't log in anymore.", "forgot_password"),
        ("登録メールが届かない", "", "activation"),
        ("リンク", "パスワード設定のリンクの期限が切れました。", "activation"),
        ("Activation", "I never received the activation mail.", "activation"),
        ("Link expired", "The link has expired.", "activation"),
        ("登録について", "会社が見つかりません。", "company_not_found"),
        ("Registration", "I cannot find my company in the search.", "company_not_found"),
        ("製品について", "複数のキーをまとめる方法を教えてください。", "question"),
        ("Question", "How do I add a colleague?", "question"),
        ("ご連絡", "お世話になっております。", "other"),
        ("Hello", "Thanks for everything.", "other"),
        # Case does not decide: the patterns are lower case, the mail is lowered once.
        ("FORGOT MY PASSWORD", "", "forgot_password"),
        ("LOGINID", "ログインIdが分かりません", "forgot_username"),
        ("Url", "登録のURLが無効です", "activation"),
    ],
)
def test_mail_is_classified_by_its_japanese_or_english_wording(
    subject: str, body: str, category: str
) -> None:
    assert classify(subject, body) == category


def test_quoted_lines_do_not_decide_the_category() -> None:
    assert classify("Re: thanks", "Thanks!\n> I forgot my password") == "other"
