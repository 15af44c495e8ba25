"""django-helpdesk 2.6.1 ``get_email`` on a local mailbox of bench/mail.py's messages.

Runs in its own venv (never the project's):

    python3 -m venv /tmp/helpdesk-venv && /tmp/helpdesk-venv/bin/pip install django-helpdesk==2.6.1
    cd bench/helpdesk_peer && HD_WAL=1 /tmp/helpdesk-venv/bin/python run.py 1000

Settings per ../shared/PERFORMANCE-BASELINES.md: teams mode off, SITE_ID 1, helpdesk URLs
included, one queue with ``email_box_type = "local"``; HD_WAL=1 sets WAL +
synchronous=NORMAL (as our SQLite does). Mail goes to Django's in-memory backend.
"""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
os.environ.setdefault("HD_DB", os.path.join(tempfile.mkdtemp(prefix="helpdesk-"), "db.sqlite3"))

import django  # noqa: E402

django.setup()
from django.core.management import call_command  # noqa: E402
from helpdesk.models import FollowUp, Queue, Ticket  # noqa: E402

from bench.mail import _message  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    call_command("migrate", verbosity=0)
    box = tempfile.mkdtemp(prefix="helpdesk-box-")
    Queue.objects.create(
        title="Contact",
        slug="contact",
        email_box_type="local",
        email_box_local_dir=box,
        allow_email_submission=True,
        email_address="contact@support.example.com",
    )
    for i in range(n):
        reply_to = i - 5 if i >= 5 and i % 5 == 0 else None
        Path(box, f"{i:06d}.eml").write_bytes(_message(i, reply_to).replace(b"\r\n", b"\n"))
    started = time.perf_counter()
    call_command("get_email")
    elapsed = time.perf_counter() - started
    print(
        f"HELPDESK {n / elapsed:.1f} mails/s ({n} in {elapsed:.2f} s; tickets {Ticket.objects.count()}, "
        f"follow-ups {FollowUp.objects.count()}, left {len(os.listdir(box))})"
    )
    shutil.rmtree(box, ignore_errors=True)


if __name__ == "__main__":
    main()
