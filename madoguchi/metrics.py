"""Prometheus metrics of one ``serve`` process, exposed on ``/metrics``.

A registry per process object (not prometheus-client's global one), so tests can build
several servers in one interpreter. ``Metrics`` implements core's ``Metrics`` port
(``mail_in``, ``mail_out``, ``throttle_hit``, ``error``), which is how core and the doors
count; HTTP requests and component health are counted here by the composition root. The
outbox depth is read from the database at scrape time, because the outbox is shared by
every instance.

Labels are small fixed sets (route templates, never raw paths: a path may carry a token).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client import exposition as _exposition

CONTENT_TYPE = _exposition.CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "madoguchi_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.mails_in = Counter(
            "madoguchi_mails_in",
            "Inbound SMTP messages by result (accepted, duplicate, rejected, tempfail, ...).",
            ["result"],
            registry=self.registry,
        )
        self.mails_out = Counter(
            "madoguchi_mails_out",
            "Outbox deliveries by channel (mail, slack) and result (sent, retry, failed, ...).",
            ["channel", "result"],
            registry=self.registry,
        )
        self.throttle_hits = Counter(
            "madoguchi_throttle_hits",
            "Attempts refused by a throttle, by door and scope.",
            ["door", "scope"],
            registry=self.registry,
        )
        self.errors = Counter(
            "madoguchi_errors",
            "Unexpected exceptions, by where they were caught.",
            ["where"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "madoguchi_outbox_depth",
            "Outbox rows not yet delivered, by channel and status (read at scrape time).",
            ["channel", "status"],
            registry=self.registry,
        )
        self.up = Gauge(
            "madoguchi_component_up",
            "1 when a component of this process reports healthy.",
            ["component"],
            registry=self.registry,
        )

    # -- core.ports.Metrics ------------------------------------------------------------

    def mail_in(self, result: str) -> None:
        self.mails_in.labels(result=result).inc()

    def mail_out(self, channel: str, result: str) -> None:
        self.mails_out.labels(channel=channel, result=result).inc()

    def throttle_hit(self, door: str, scope: str) -> None:
        self.throttle_hits.labels(door=door, scope=scope).inc()

    def error(self, where: str) -> None:
        self.errors.labels(where=where).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
