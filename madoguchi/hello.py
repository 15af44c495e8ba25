"""What ``make run`` prints before serving: where things are and what to try first."""

from __future__ import annotations

from core.config import Settings


def banner(settings: Settings) -> str:
    http = f"http://{settings.http_host}:{settings.http_port}"
    smtp = f"{settings.smtp_host}:{settings.smtp_port}"
    send = (
        '.venv/bin/python -c "import smtplib; from email.message import EmailMessage; '
        "m = EmailMessage(); m['From'] = 'taro.yamada@customer-a.example.jp'; "
        f"m['To'] = '{settings.contact_address}'; m['Subject'] = 'パスワードを忘れました'; "
        "m.set_content('ログインできません。よろしくお願いします。'); "
        f"smtplib.SMTP('{settings.smtp_host}', {settings.smtp_port}).send_message(m)\""
    )
    outbox = settings.outbox_dir if settings.relay_url is None else "(relay: MADOGUCHI_RELAY_URL)"
    slack = (
        "on"
        if settings.slack_bot_token or settings.slack_client_id or settings.slack_app_token
        else "off: put SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET in .env (README: Connecting Slack)"
    )
    return f"""
madoguchi — {settings.vendor_name} {settings.service_name}
  database   {settings.database_url}
  HTTP       {http}   (ready {http}/readyz, metrics {http}/metrics)
  SMTP       {smtp}   (the contact window is {settings.contact_address})
  mail out   {outbox}
  Slack      {slack}

Try it (in another terminal, from this folder):
  1. Write to the contact window:
     {send}
  2. The request is stored; its acknowledgement lands as an .eml file in {outbox}/
       ls -t {outbox} | head; less {outbox}/$(ls -t {outbox} | head -n1)
  3. Connect Slack: create an app from slack/manifest.yml, set the Request URL to
     <MADOGUCHI_PUBLIC_URL>/slack/events, put its tokens in .env and `make run` again.

Stop with Ctrl-C (in-flight mail is finished first).
"""


def main() -> None:
    print(banner(Settings()))


if __name__ == "__main__":
    main()
