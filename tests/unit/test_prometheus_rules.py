"""The alert rules and the monitoring configuration `make run` writes, checked by the real
promtool and amtool (Debian's `prometheus` and `prometheus-alertmanager`, which `make
install` installs): the rules load, every rule has a unit test that passes, and the
Prometheus and Alertmanager configurations are valid."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from slipway_devstack import monitoring

RULES_DIR = monitoring.RULES_SOURCE.parent
RULES = monitoring.RULES_SOURCE
RULE_TESTS = RULES_DIR / "slipway.rules.test.yml"

promtool = shutil.which("promtool")
amtool = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(promtool is None, reason="promtool not installed")


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120)


@needs_promtool
def test_the_rules_load() -> None:
    result = run(str(promtool), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_every_rule_passes_its_unit_test() -> None:
    result = run(str(promtool), "test", "rules", RULE_TESTS.name, cwd=RULES_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_a_unit_test() -> None:
    rules = yaml.safe_load(RULES.read_text())
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    records = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    tested_alerts = {t["alertname"] for case in tests for t in case.get("alert_rule_test", [])}
    tested_records = {t["expr"] for case in tests for t in case.get("promql_expr_test", [])}
    assert alerts - tested_alerts == set()
    assert records - tested_records == set()
    # Each alert is tested firing (expected alerts), not only staying quiet.
    firing = {
        t["alertname"]
        for case in tests
        for t in case.get("alert_rule_test", [])
        if t.get("exp_alerts")
    }
    assert alerts - firing == set()


@needs_promtool
def test_the_prometheus_configuration_make_run_writes_is_valid(tmp_path: Path) -> None:
    setup = monitoring.Monitoring(tmp_path, "http://127.0.0.1:8080")
    setup.targets = {
        "slipway-gateway": ["127.0.0.1:8080"],
        "slipway-image-builder": ["127.0.0.1:9101"],
    }
    prometheus_yml, alertmanager_yml = setup.write()
    result = run(str(promtool), "check", "config", str(prometheus_yml))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "15 rules found" in result.stdout
    config = yaml.safe_load(prometheus_yml.read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == {"slipway-gateway", "slipway-image-builder"}
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"
    ]
    if amtool is not None:
        checked = run(amtool, "check-config", str(alertmanager_yml))
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_webhook_secret_is_private_and_only_referenced(tmp_path: Path) -> None:
    setup = monitoring.Monitoring(tmp_path, "http://127.0.0.1:8080")
    _, alertmanager_yml = setup.write()
    secret_file = tmp_path / monitoring.SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip()
    assert len(secret) >= 32
    written = alertmanager_yml.read_text()
    assert secret not in written  # Alertmanager reads it from the file
    webhook = yaml.safe_load(written)["receivers"][0]["webhook_configs"][0]
    assert webhook["url"] == "http://127.0.0.1:8080/api/alerts/webhook"
    assert webhook["send_resolved"] is True
    assert webhook["http_config"]["authorization"]["credentials_file"] == str(secret_file)
    setup.write()
    assert secret_file.read_text().strip() == secret  # kept across restarts


@needs_promtool
def test_every_query_of_the_grafana_dashboard_is_valid_promql(tmp_path: Path) -> None:
    dashboard = RULES_DIR.parent / "grafana" / "slipway-dashboard.json"
    panels = yaml.safe_load(dashboard.read_text())["panels"]  # JSON is YAML
    queries = [target["expr"] for panel in panels for target in panel["targets"]]
    assert len(queries) >= 14
    as_rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)
                ],
            }
        ]
    }
    rules = tmp_path / "dashboard.rules.yml"
    rules.write_text(yaml.safe_dump(as_rules))
    result = run(str(promtool), "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
