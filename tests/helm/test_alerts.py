"""The chart's alerts, proven with the real ``promtool``: ``check rules`` (syntax and lint)
and ``test rules`` with tests/helm/alerts-test.yaml, which has cases for every alert,
including the flapping circuit breaker and a down target (issue 13, audit section 2)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm.test_chart import ALERTS, ci_values, one, render_ci
from tests.helm.tools import ensure_go_tool

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2700)]

HERE = Path(__file__).resolve().parent
UNIT_TESTS = HERE / "alerts-test.yaml"


def _rules_file(tmp: Path) -> Path:
    rule = one(render_ci(ci_values("full")), "PrometheusRule")
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def test_promtool_check_rules_accepts_the_rendered_rules(tmp_path: Path) -> None:
    promtool = ensure_go_tool("promtool")
    rules = _rules_file(tmp_path)
    proc = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", str(rules)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in proc.stdout + proc.stderr


def test_every_alert_has_a_promtool_case_that_expects_it_to_fire() -> None:
    doc: dict[str, Any] = yaml.safe_load(UNIT_TESTS.read_text())
    firing = {
        t["alertname"]
        for case in doc["tests"]
        for t in case.get("alert_rule_test", [])
        if t.get("exp_alerts")
    }
    assert firing == ALERTS


def test_promtool_test_rules_every_alert_fires_and_one_cause_pages_once(tmp_path: Path) -> None:
    promtool = ensure_go_tool("promtool")
    _rules_file(tmp_path)
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    proc = subprocess.run(
        [promtool, "test", "rules", UNIT_TESTS.name],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr
