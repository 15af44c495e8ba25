"""deploy/ holds files an operator installs as they are: each is checked by the tool that
will read it when that tool is on this machine (``promtool``, ``systemd-analyze``), and
parsed here in any case, so a CI without them still catches a broken file. (That the
dashboard and the rules name only metrics a running service exports is
tests/integration/test_observability.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "madoguchi-rules.yml"
SCRAPE = DEPLOY / "prometheus" / "prometheus.yml"
UNIT = DEPLOY / "systemd" / "madoguchi.service"
DASHBOARD = DEPLOY / "grafana" / "madoguchi-dashboard.json"
PROXY = DEPLOY / "nginx" / "madoguchi.conf"
EXEC = "/opt/madoguchi/venv/bin/madoguchi"


def test_every_alert_rule_has_an_expression_a_severity_and_a_summary() -> None:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    for name, rule in alerts.items():
        assert rule["expr"].strip(), name
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    # What the issue asks an operator to be woken for.
    wanted = {
        "MadoguchiOutboxBacklog": "madoguchi_outbox_depth",
        "MadoguchiOutboxStale": "madoguchi_outbox_oldest_age_seconds",
        "MadoguchiComponentDown": "madoguchi_component_up",
        "MadoguchiDown": 'up{job="madoguchi"}',
        "MadoguchiHttpErrorRate": 'status=~"5.."',
        "MadoguchiErrors": "madoguchi_errors_total",
        "MadoguchiMailFailed": 'result="failed"',
        "MadoguchiThrottleSpike": "madoguchi_throttle_hits_total",
    }
    for name, needle in wanted.items():
        assert needle in alerts[name]["expr"], name


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)"
)
def test_promtool_accepts_the_rules_and_the_scrape_config() -> None:
    rules = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 10 rules found" in rules.stdout
    config = subprocess.run(
        ["promtool", "check", "config", "--syntax-only", str(SCRAPE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert config.returncode == 0, config.stdout + config.stderr


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)"
)
def test_promtool_would_catch_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "rules.yml"
    broken.write_text(RULES.read_text(encoding="utf-8").replace("> 900", "> > 900"), encoding="utf-8")
    done = subprocess.run(
        ["promtool", "check", "rules", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0


def test_the_scrape_config_names_the_job_the_rules_expect() -> None:
    scrape = yaml.safe_load(SCRAPE.read_text(encoding="utf-8"))
    assert [job["job_name"] for job in scrape["scrape_configs"]] == ["madoguchi"]
    assert scrape["rule_files"] == ["/etc/prometheus/rules/madoguchi-rules.yml"]


def test_the_dashboard_is_grafana_json_with_a_prometheus_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "madoguchi"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"] and all(t["expr"] for t in panel["targets"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


def _unit_sections() -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = ""
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = {}
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {raw!r}"
        sections[current].setdefault(key, []).append(value)
    return sections


def test_the_unit_runs_serve_as_its_own_user_with_private_files() -> None:
    unit = _unit_sections()
    service = unit["Service"]
    assert service["ExecStart"] == [f"{EXEC} serve"]
    assert service["User"] == ["madoguchi"] and service["UMask"] == ["0077"]
    assert service["EnvironmentFile"] == ["/etc/madoguchi/madoguchi.env"]
    assert service["KillSignal"] == ["SIGTERM"] and int(service["TimeoutStopSec"][0]) > 30
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """``verify`` insists the executable exists: the same unit, pointed at a stand-in."""
    program = tmp_path / "madoguchi"
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    unit = tmp_path / "madoguchi.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(EXEC, str(program)), encoding="utf-8")
    env = {**os.environ, "SYSTEMD_LOG_COLOR": "0"}
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    # verify exits 0 on settings it ignores; those are printed, so nothing printed is the test.
    assert done.returncode == 0 and done.stderr.strip() == "" and done.stdout.strip() == "", done.stderr
    unit.write_text(unit.read_text(encoding="utf-8").replace("Type=exec", "Type=nonsense"), encoding="utf-8")
    broken = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert "nonsense" in broken.stderr


def test_the_proxy_example_terminates_tls_and_names_the_trusted_proxy_setting() -> None:
    text = PROXY.read_text(encoding="utf-8")
    assert "listen 443 ssl" in text and "proxy_pass http://127.0.0.1:3000" in text
    assert "MADOGUCHI_TRUSTED_PROXIES=127.0.0.1" in text
    assert "proxy_set_header X-Forwarded-For $remote_addr" in text
    assert text.count("{") == text.count("}")


def test_the_deploy_guide_names_every_file_in_deploy_and_the_commands_an_operator_runs() -> None:
    guide = (DEPLOY.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        assert f"deploy/{path.relative_to(DEPLOY)}" in guide, path
    for command in (
        "useradd",
        "python3 -m venv",
        "pip install",
        "createdb",
        "secrets.token_urlsafe",
        "mdg db upgrade",
        "systemctl enable --now madoguchi",
        "certbot",
        "MADOGUCHI_TRUSTED_PROXIES",
        "slack/manifest.yml",
        "slack/manifest.socket.yml",
        "promtool check rules",
        "grafana",
        "mdg check",
        "/readyz",
    ):
        assert command in guide, command
