"""CLI conventions (compare `vector validate`, `rpk connect lint`): results on stdout,
warnings on stderr, `check --strict`, the config path from $BRAZE_BRIDGE_CONFIG, JSON and
JUnit output, distinct exit codes for usage errors (2) and invalid configs (78), and a
metrics port in use as one line, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import orjson
import pytest
import yaml

from bridge.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "config/example.yaml"


@pytest.fixture(autouse=True)
def _cwd_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("BRAZE_API_KEY", "cli-test-key")
    monkeypatch.delenv("BRAZE_BRIDGE_CONFIG", raising=False)


def test_warnings_go_to_stderr_and_strict_turns_them_into_exit_78(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", EXAMPLE, "--strict"]) == 0  # no warnings: passes
    capsys.readouterr()
    monkeypatch.delenv("BRAZE_API_KEY")
    assert main(["check", "--config", EXAMPLE]) == 0
    out, err = capsys.readouterr()
    assert "OK" in out and "warning" not in out
    assert "warning: environment variable BRAZE_API_KEY is not set" in err
    assert main(["check", "--config", EXAMPLE, "--strict"]) == 78
    assert "--strict" in capsys.readouterr().err


def test_config_path_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BRAZE_BRIDGE_CONFIG", EXAMPLE)
    assert main(["check"]) == 0
    assert f"{EXAMPLE}: OK" in capsys.readouterr().out


def test_usage_error_and_invalid_config_have_different_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["check"])  # no --config and no $BRAZE_BRIDGE_CONFIG
    assert usage.value.code == 2
    assert "--config" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    doc = yaml.safe_load((REPO / EXAMPLE).read_text())
    doc["batching"] = {"max_recipients": 500}
    bad.write_text(yaml.safe_dump(doc))
    assert main(["check", "--config", str(bad)]) == 78
    err = capsys.readouterr().err
    assert "invalid config" in err and "batching.max_recipients" in err


def test_check_format_json_reports_rules_warnings_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BRAZE_API_KEY")
    assert main(["check", "--config", EXAMPLE, "--format", "json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["errors"] == []
    assert [r["name"] for r in doc["rules"]] == ["order-shipped", "big-order-vip", "cart-abandoned"]
    assert any("BRAZE_API_KEY" in w for w in doc["warnings"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("kafka: {}\n")
    assert main(["check", "--config", str(bad), "--format", "json"]) == 78
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["errors"][0]["file"] == str(bad)


def test_test_format_junit_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "tests/golden", "--format", "junit"]) == 0
    root = ET.fromstring(capsys.readouterr().out)  # noqa: S314 - our own output
    suite = root.find("testsuite")
    assert suite is not None and int(suite.get("tests", "0")) >= 1
    assert suite.get("failures") == "0" and len(suite.findall("testcase")) == int(
        suite.get("tests", "")
    )

    doc = yaml.safe_load((REPO / "tests/golden/actions.yaml").read_text())
    doc["config"] = str((REPO / "config/actions.yaml").resolve())
    case = doc["cases"][0]
    case["expect"]["requests"][0]["body"]["campaign_id"] = "wrong"
    doc["cases"] = [case]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(doc))
    assert main(["test", str(tmp_path), "--format", "junit"]) == 1
    suite = ET.fromstring(capsys.readouterr().out).find("testsuite")  # noqa: S314
    assert suite is not None and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and "wrong" in (failure.text or "")
    assert main(["test", str(tmp_path), "--format", "json"]) == 1
    out = orjson.loads(capsys.readouterr().out)
    assert (out["passed"], out["failed"]) == (0, 1) and not out["cases"][0]["ok"]


def test_metrics_port_in_use_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        doc = yaml.safe_load((REPO / EXAMPLE).read_text())
        doc["observability"] = {"host": "127.0.0.1", "port": port}
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump(doc))
        proc = subprocess.run(
            [sys.executable, "-m", "bridge", "run", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            env={"BRAZE_API_KEY": "k", "PATH": "/usr/bin:/bin"},
        )
    finally:
        holder.close()
    assert proc.returncode == 78  # a config problem (observability.port): EX_CONFIG
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("braze-bridge: invalid config: ")
    assert "observability.port: cannot listen on 127.0.0.1:" in last and "in use" in last
