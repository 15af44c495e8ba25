"""Prometheus metrics of one ``serve`` process, exposed on ``/metrics``.

A registry per process object (not prometheus-client's global one), so tests can build
several servers in one interpreter. ``Metrics`` implements core's ``Metrics`` port
(``mail_in``, ``mail_out``, ``throttle_hit``, ``error``, ``slack_ack``, ``smtp_data``),
which is how core and the doors count and time; HTTP requests and component health are
counted here by the composition root. The outbox depth and the age of its oldest waiting
row are read from the database at scrape time, because the outbox is shared by every
instance.

Labels are small fixed sets (route templates, never raw paths: a path may carry a token).
The label values an alert or the dashboard names are created at zero here, so a rule
such as ``increase(madoguchi_mails_out_total{result="failed"}[1h])`` has a series to
read before the first failure, and a fresh process shows every series deploy/ uses.
The process (CPU, memory, open files), platform and garbage-collector collectors are
registered too: the stock ones, on this registry. The ``*_created`` series (a start
time per counter and histogram child, which Prometheus does not use) are switched off:
they were half of every scrape's samples, and a scrape runs on the event loop that
answers Slack.
"""

from __future__ import annotations

import platform

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import exposition as _exposition
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from madoguchi.version import version

CONTENT_TYPE = _exposition.CONTENT_TYPE_LATEST

# Seconds. Slack's deadline is 3 s; the SMTP and HTTP answers we aim at are milliseconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
SLACK_KINDS = ("command", "event", "action", "view", "other")
MAIL_IN_RESULTS = ("accepted", "duplicate", "tempfail", "rejected_rcpt", "too_many_recipients")
MAIL_OUT_RESULTS = ("sent", "retry", "failed")
CHANNELS = ("mail", "slack")


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide; see the module text
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.build_info = Gauge(
            "madoguchi_build_info",
            "Always 1; the labels say which madoguchi and Python this process runs.",
            ["version", "python"],
            registry=self.registry,
        )
        self.build_info.labels(version=version(), python=platform.python_version()).set(1)
        self.http_requests = Counter(
            "madoguchi_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "madoguchi_http_request_duration_seconds",
            "Time from a request's arrival to its response, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.slack_ack_seconds = Histogram(
            "madoguchi_slack_ack_seconds",
            "Time from a Slack request's arrival to its acknowledgement (Slack's deadline is 3 s).",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.smtp_data_seconds = Histogram(
            "madoguchi_smtp_data_seconds",
            "Time from the end of an inbound message's DATA to our reply (250 once stored).",
            ["result"],
            buckets=LATENCY_BUCKETS,
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
        self.outbox_age = Gauge(
            "madoguchi_outbox_oldest_age_seconds",
            "Age of the oldest outbox row not yet delivered, by channel; 0 when none waits "
            "(read at scrape time).",
            ["channel"],
            registry=self.registry,
        )
        self.up = Gauge(
            "madoguchi_component_up",
            "1 when a component of this process reports healthy.",
            ["component"],
            registry=self.registry,
        )
        self._zero_series()

    def _zero_series(self) -> None:
        for result in MAIL_IN_RESULTS:
            self.mails_in.labels(result=result)
        for channel in CHANNELS:
            self.outbox_age.labels(channel=channel).set(0)
            for result in MAIL_OUT_RESULTS:
                self.mails_out.labels(channel=channel, result=result)
        for kind in SLACK_KINDS:
            self.slack_ack_seconds.labels(kind=kind)
        self.errors.labels(where="http")

    # -- core.ports.Metrics ------------------------------------------------------------

    def mail_in(self, result: str) -> None:
        self.mails_in.labels(result=result).inc()

    def mail_out(self, channel: str, result: str) -> None:
        self.mails_out.labels(channel=channel, result=result).inc()

    def throttle_hit(self, door: str, scope: str) -> None:
        self.throttle_hits.labels(door=door, scope=scope).inc()

    def error(self, where: str) -> None:
        self.errors.labels(where=where).inc()

    def slack_ack(self, kind: str, seconds: float) -> None:
        self.slack_ack_seconds.labels(kind=kind if kind in SLACK_KINDS else "other").observe(seconds)

    def smtp_data(self, result: str, seconds: float) -> None:
        self.smtp_data_seconds.labels(result=result).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
