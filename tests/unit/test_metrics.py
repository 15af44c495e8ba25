"""The Prometheus metrics implement core's Metrics port: what core and the doors count
shows on /metrics under the names operators alert on."""

from __future__ import annotations

from core.ports import Metrics as MetricsPort
from core.ports import NoMetrics
from madoguchi.metrics import Metrics


def test_every_count_of_the_port_reaches_its_prometheus_counter() -> None:
    metrics: MetricsPort = Metrics()
    metrics.mail_in("accepted")
    metrics.mail_out("mail", "sent")
    metrics.mail_out("mail", "sent")
    metrics.throttle_hit("web", "web.link")
    metrics.error("smtp")
    assert isinstance(metrics, Metrics)
    text = metrics.render().decode()
    assert 'madoguchi_mails_in_total{result="accepted"} 1.0' in text
    assert 'madoguchi_mails_out_total{channel="mail",result="sent"} 2.0' in text
    assert 'madoguchi_throttle_hits_total{door="web",scope="web.link"} 1.0' in text
    assert 'madoguchi_errors_total{where="smtp"} 1.0' in text


def test_the_do_nothing_metrics_accept_every_count() -> None:
    metrics: MetricsPort = NoMetrics()
    metrics.mail_in("accepted")
    metrics.mail_out("slack", "retry")
    metrics.throttle_hit("slack", "support_key")
    metrics.error("http")
