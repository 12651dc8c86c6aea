"""The command line: `python -m bridge.sandbox`, options, config file, signals."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.sandbox import cli

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.sandbox", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("braze sandbox listening on http://127.0.0.1:"), line
    return proc, line.split(" on ", 1)[1].strip()


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(5)
        for stream in (p.stdout, p.stderr):
            if stream is not None:
                stream.close()


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    return proc.wait(10)


def test_cli_serves_and_exits_cleanly(procs: list[subprocess.Popen[str]]) -> None:
    proc, url = start("--api-key", "k-secret-1", "--campaign-id", "c1", "--seed", "3")
    procs.append(proc)
    auth = {"Authorization": "Bearer k-secret-1"}
    body = {"campaign_id": "c1", "recipients": [{"external_user_id": "u"}]}
    r = httpx.post(f"{url}/campaigns/trigger/send", json=body, headers=auth)
    assert r.status_code == 200
    body["campaign_id"] = "c2"
    r = httpx.post(f"{url}/campaigns/trigger/send", json=body, headers=auth)
    assert r.json()["message"] == "Invalid Campaign ID"
    assert stop(proc) == 0
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    assert "k-secret-1" not in out + err


def test_cli_sigint_and_env_key(procs: list[subprocess.Popen[str]]) -> None:
    proc, url = start(env={"BRAZE_SANDBOX_API_KEY": "from-env"})
    procs.append(proc)
    r = httpx.get(f"{url}/_sandbox/config")
    assert r.json()["api_key_set"] is True
    r = httpx.post(
        f"{url}/canvas/trigger/send",
        json={"canvas_id": "k", "broadcast": True},
        headers={"Authorization": "Bearer from-env"},
    )
    assert r.status_code == 201
    assert stop(proc, signal.SIGINT) == 0


def test_cli_config_file_and_flags(tmp_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    cfg = tmp_path / "sandbox.yaml"
    cfg.write_text(
        "api_key: file-key\n"
        "hourly_limit: 5\n"
        "hourly_window_s: 60\n"
        "paused_canvases: [paused-1]\n"
        "success_status: {/campaigns/trigger/send: 201}\n"
        "faults: {latency_ms: 1}\n"
    )
    proc, url = start("--config", str(cfg), "--hourly-limit", "7", "--record-limit", "0")
    procs.append(proc)
    got = httpx.get(f"{url}/_sandbox/config").json()
    assert got["hourly_limit"] == 7  # flag wins over file
    assert got["hourly_window_s"] == 60
    assert got["record_limit"] == 0
    assert got["paused_canvases"] == ["paused-1"]
    assert httpx.get(f"{url}/_sandbox/faults").json()["faults"] == {"latency_ms": 1}
    auth = {"Authorization": "Bearer file-key"}
    r = httpx.post(
        f"{url}/campaigns/trigger/send",
        json={"campaign_id": "c", "broadcast": True},
        headers=auth,
    )
    assert r.status_code == 201
    assert r.headers["X-RateLimit-Limit"] == "250"  # broadcast pool
    assert stop(proc) == 0


def test_cli_faults_inline_json(procs: list[subprocess.Popen[str]]) -> None:
    proc, url = start("--faults", json.dumps({"error_rate": 1, "error_statuses": [502]}))
    procs.append(proc)
    r = httpx.post(
        f"{url}/campaigns/trigger/send",
        json={"campaign_id": "c", "broadcast": True},
        headers={"Authorization": "Bearer sandbox-api-key"},
    )
    assert r.status_code == 502
    assert stop(proc) == 0


@pytest.mark.parametrize(
    "argv",
    [["--faults", '{"error_rate": 3}'], ["--hourly-limit", "0"], ["--config", "/nonexistent.yaml"]],
)
def test_cli_bad_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert "braze sandbox:" in capsys.readouterr().err


def test_add_arguments_composes() -> None:
    parser = argparse.ArgumentParser(prog="braze-bridge")
    sub = parser.add_subparsers(dest="cmd")
    cli.add_arguments(sub.add_parser("sandbox"))
    args = parser.parse_args(["sandbox", "--port", "0", "--canvas-id", "a", "--canvas-id", "b"])
    opts = cli.build_options(args)
    assert opts.port == 0
    assert opts.canvas_ids == frozenset({"a", "b"})
    assert opts.campaign_ids is None


def test_new_flags_map_to_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAZE_SANDBOX_ADMIN_TOKEN", "env-token")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    opts = cli.build_options(parser.parse_args([]))
    assert opts.admin_token == "env-token"
    assert (opts.require_broadcast_flag, opts.strict_send_ids, opts.list_api_schedules) == (
        True,
        True,
        False,
    )
    argv = [
        "--admin-token", "t", "--protect-inspection", "--list-api-schedules",
        "--lenient-targeting", "--lenient-send-ids", "--strict-schedule",
        "--record-max-bytes", "1000",
    ]  # fmt: skip
    opts = cli.build_options(parser.parse_args(argv))
    assert opts.admin_token == "t"
    assert opts.protect_inspection and opts.list_api_schedules
    assert not opts.require_broadcast_flag and not opts.strict_send_ids
    assert not opts.allow_both_schedule_flags and not opts.allow_local_time_offset
    assert opts.record_max_bytes == 1000
    assert "admin_token" not in opts.public_dict()
