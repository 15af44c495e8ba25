"""A ``madoguchi serve`` subprocess on free ports, and a burst of contact-window mail."""

from __future__ import annotations

import email.utils
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
MADOGUCHI = [sys.executable, "-m", "madoguchi.cli"]
CONTACT = "contact@support.example.com"


def base_env(workdir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MADOGUCHI_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=database_url,
        MADOGUCHI_SECRET_KEY="e2e-secret-key-not-for-production",
        MADOGUCHI_VAR_DIR=str(workdir / "var"),
        MADOGUCHI_OUTBOX_DIR=str(workdir / "var" / "outbox"),
        MADOGUCHI_CONTACT_ADDRESS=CONTACT,
        PYTHONPATH=str(ROOT),
    )
    return env


@dataclass
class ServeProcess:
    workdir: Path
    env: dict[str, str]
    name: str = "serve"
    http_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self, *args: str, timeout: float = 60) -> None:
        env = dict(self.env)
        env.update(
            MADOGUCHI_HTTP_PORT=str(self.http_port),
            MADOGUCHI_SMTP_PORT=str(self.smtp_port),
            MADOGUCHI_PUBLIC_URL=f"http://127.0.0.1:{self.http_port}",
        )
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*MADOGUCHI, "serve", *args], cwd=self.workdir, env=env, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.log_path.read_text()[-4000:]}")
            if self.healthz()[0] == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"serve not healthy in {timeout}s:\n{self.log_path.read_text()[-4000:]}")

    def healthz(self) -> tuple[int, bytes]:
        return self.get("/healthz")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def terminate(self, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def contact_mail(n: int) -> EmailMessage:
    """Message n of a burst: its own sender (acknowledgements are limited per sender)."""
    msg = EmailMessage()
    msg["From"] = f"burst{n:04d}@customer{n % 37}.example.jp"
    msg["To"] = CONTACT
    msg["Subject"] = f"製品Aについての質問 {n}"
    msg["Message-ID"] = f"<burst-{n:04d}@customer.example.jp>"
    # Fixed bytes: a message retried after a lost 250 must be the same message.
    msg["Date"] = email.utils.formatdate(1_795_000_000 + n, localtime=False)
    msg.set_content(f"お世話になっております。質問 {n} です。\nよろしくお願いいたします。\n")
    return msg


@dataclass
class Burst:
    """Sends messages over several SMTP connections; records which got ``250``."""

    accepted: set[int] = field(default_factory=set)
    refused: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _send(self, port: int, numbers: list[int], on_accept: threading.Event | None, at: int) -> None:
        pending = list(numbers)
        while pending:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
                    while pending:
                        n = pending[0]
                        client.send_message(contact_mail(n))  # raises unless 250
                        pending.pop(0)
                        with self.lock:
                            self.accepted.add(n)
                            if on_accept is not None and len(self.accepted) >= at:
                                on_accept.set()
            except (smtplib.SMTPException, OSError):
                # Like a real MTA: this message is not delivered; the sender keeps it.
                with self.lock:
                    self.refused.update(pending)
                return

    def send(
        self,
        port_of: dict[int, int] | int,
        numbers: Iterable[int],
        *,
        connections: int = 8,
        on_accept: threading.Event | None = None,
        at: int = 0,
    ) -> None:
        numbers = list(numbers)
        ports = port_of if isinstance(port_of, dict) else {0: port_of}
        slices = [numbers[i::connections] for i in range(connections)]
        with ThreadPoolExecutor(connections) as pool:
            futures = [
                pool.submit(self._send, ports[i % len(ports)], part, on_accept, at)
                for i, part in enumerate(slices)
            ]
            for future in futures:
                future.result()


def acks_in(outbox_dir: Path) -> dict[str, int]:
    """In-Reply-To of every .eml written, counted (one acknowledgement per message)."""
    counts: dict[str, int] = {}
    parser = BytesHeaderParser()
    for path in outbox_dir.glob("*.eml"):
        headers = parser.parsebytes(path.read_bytes())
        if headers.get("Auto-Submitted", "").startswith("auto-replied"):
            key = str(headers.get("In-Reply-To", "")).strip()
            counts[key] = counts.get(key, 0) + 1
    return counts
