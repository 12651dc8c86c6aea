"""Braze clients nobody here wrote, run against the sandbox (issue #12 item 11).

* npm `braze-api` (braze-community/braze-node), installed if missing into
  ~/.cache/braze-bridge/npm (or $BRAZE_BRIDGE_NPM_CACHE) and driven by
  `thirdparty/braze_api_driver.js` through every messaging call it has;
* PyPI `edx-braze-client` (edx/braze-client, used in production by edX), installed if missing
  with pip into ~/.cache/braze-bridge/pypi (outside the project's venv; it needs `requests`)
  and driven by `thirdparty/edx_braze_client_driver.py`.

Each runs against a `braze-bridge sandbox` process the test starts. Under CI (CI=true) a
missing Node/npm or a failed install is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.sandbox.process import SandboxProcess

BRAZE_API = "braze-api"
BRAZE_API_VERSION = "2.13.4"
HERE = Path(__file__).resolve().parent
DRIVER = HERE / "thirdparty" / "braze_api_driver.js"
API_KEY = "third-party-key"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI=true: the third-party client test must run)")
    pytest.skip(reason)


def npm_modules() -> Path:
    """node_modules holding braze-api@BRAZE_API_VERSION, installed there if missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed to run the npm braze-api client")
    default = Path.home() / ".cache" / "braze-bridge" / "npm"
    cache = Path(os.environ.get("BRAZE_BRIDGE_NPM_CACHE", default))
    modules = cache / "node_modules"
    manifest = modules / BRAZE_API / "package.json"
    if manifest.exists() and json.loads(manifest.read_text())["version"] == BRAZE_API_VERSION:
        return modules
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "package.json").exists():
        (cache / "package.json").write_text('{"private": true}\n')
    cmd = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache)]
    proc = subprocess.run(  # noqa: S603 - fixed arguments
        [*cmd, f"{BRAZE_API}@{BRAZE_API_VERSION}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 or not manifest.exists():
        _unavailable(f"npm install {BRAZE_API}@{BRAZE_API_VERSION} failed: {proc.stderr[-2000:]}")
    return modules


@pytest.fixture
def sandbox_proc() -> Any:
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    dashboard = {
        "scheduled_broadcasts": [{"name": "Weekly", "id": "dash-1", "next_send_time": soon}]
    }
    sb = SandboxProcess("--config", json.dumps(dashboard), "--seed", "5", api_key=API_KEY)
    yield sb
    sb.stop()


def test_npm_braze_api_client_against_the_sandbox(sandbox_proc: SandboxProcess) -> None:
    modules = npm_modules()
    node = shutil.which("node")
    assert node is not None
    proc = subprocess.run(  # noqa: S603 - fixed arguments
        [node, str(DRIVER), str(modules), sandbox_proc.url, API_KEY],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    results: dict[str, dict[str, Any]] = json.loads(proc.stdout)
    failed = {k: v for k, v in results.items() if not k.startswith("error.") and not v["ok"]}
    assert failed == {}

    body = {k: v["body"] for k, v in results.items() if v["ok"]}
    assert body["sends.id.create"] == {"message": "success", "send_id": "npm-send-1"}
    assert body["campaigns.trigger.send"]["message"] == "success"
    assert len(body["campaigns.trigger.send"]["dispatch_id"]) == 32
    assert len(body["campaigns.trigger.send.broadcast"]["send_id"]) == 16
    for name in ("campaigns", "canvas", "messages"):
        created = body[f"{name}.{'trigger.' if name != 'messages' else ''}schedule.create"]
        assert set(created) == {"dispatch_id", "schedule_id", "message"}
    assert body["messages.send.segment"]["send_id"]
    (item,) = body["messages.scheduled_broadcasts"]["scheduled_broadcasts"]
    assert set(item) == {"name", "id", "type", "tags", "next_send_time", "schedule_type"}
    assert item["id"] == "dash-1"

    # the client's own error type carries the sandbox's documented answers
    too_many = results["error.too_many_recipients"]
    assert (too_many["status"], too_many["message"]) == (
        400,
        "The max number of external_ids and aliases per request was exceeded",
    )
    assert too_many["errors"] == ["51 recipients given; at most 50 per request"]
    no_flag = results["error.no_broadcast_flag"]
    assert (no_flag["status"], no_flag["message"]) == (400, "No Recipients")
    assert results["error.wrong_key"]["status"] == 401

    # and what the sandbox received: every messaging path the client has
    paths = {(r["path"], r["status"]) for r in sandbox_proc.requests()}
    served = {p for p, s in paths if 200 <= s < 300}
    assert served == {
        "/sends/id/create",
        "/campaigns/trigger/send",
        "/campaigns/trigger/schedule/create",
        "/campaigns/trigger/schedule/update",
        "/campaigns/trigger/schedule/delete",
        "/canvas/trigger/send",
        "/canvas/trigger/schedule/create",
        "/canvas/trigger/schedule/update",
        "/canvas/trigger/schedule/delete",
        "/messages/send",
        "/messages/schedule/create",
        "/messages/schedule/update",
        "/messages/schedule/delete",
        "/messages/scheduled_broadcasts",
    }
    stats = sandbox_proc.stats()
    assert stats["schedules"] == 0  # all three created schedules were deleted by the client
    # 3 trigger recipients + 1 canvas + 1 campaign schedule + 2 + 1 messages (broadcasts: 0)
    assert stats["accepted_recipients"] == 8


EDX = "edx-braze-client"
EDX_VERSION = "1.1.4"
EDX_DRIVER = HERE / "thirdparty" / "edx_braze_client_driver.py"


def edx_site() -> Path:
    """A directory holding edx-braze-client (without its Django extras) and requests."""
    default = Path.home() / ".cache" / "braze-bridge" / "pypi"
    site = Path(os.environ.get("BRAZE_BRIDGE_PYPI_CACHE", default)) / f"{EDX}-{EDX_VERSION}"
    if (site / "braze" / "client.py").exists() and (site / "requests").is_dir():
        return site
    pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    steps = [
        # its Django/edx-ace requirements are for the Django app part, not for BrazeClient
        [*pip, "--no-deps", "--target", str(site), f"{EDX}=={EDX_VERSION}"],
        [*pip, "--target", str(site), "requests>=2.31,<3"],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)  # noqa: S603
        if proc.returncode != 0:
            _unavailable(f"pip install for {EDX} failed: {proc.stderr[-2000:]}")
    return site


def test_edx_braze_client_against_the_sandbox(sandbox_proc: SandboxProcess) -> None:
    site = edx_site()
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, str(EDX_DRIVER), sandbox_proc.url, API_KEY],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    results: dict[str, dict[str, Any]] = json.loads(proc.stdout)
    failed = {k: v for k, v in results.items() if not k.startswith("error.") and not v["ok"]}
    assert failed == {}
    # its recipients carry integer external ids, attributes and send_to_existing_only: false
    recipients = results["create_recipients"]["body"]
    assert recipients["ann@example.com"]["external_user_id"] == 101
    for name in ("send_campaign_message", "send_campaign_message.emails", "send_email"):
        assert results[name]["body"]["message"] == "success"
    assert results["send_canvas_message"]["body"]["message"] == "success"
    errors = {k: v["error"] for k, v in results.items() if k.startswith("error.")}
    assert errors == {
        "error.bad_request": "BrazeBadRequestError",
        "error.forbidden": "BrazeForbiddenError",
        "error.rate_limited": "BrazeRateLimitError",
        "error.server": "BrazeInternalServerError",
        "error.unauthorized": "BrazeUnauthorizedError",
    }
    assert '"Access Denied"' in results["error.forbidden"]["detail"]
    reset = results["error.rate_limited"]["reset_epoch_s"]
    assert time.time() - 60 < reset <= time.time() + 3600
    sent = [r for r in sandbox_proc.requests() if 200 <= r["status"] < 300]
    by_path = {r["path"]: r["body"] for r in sent}
    assert by_path["/messages/send"]["external_user_ids"] == ["101", "102"]
    assert by_path["/messages/send"]["campaign_id"] is None
    assert {r["path"] for r in sent} == {
        "/campaigns/trigger/send",
        "/canvas/trigger/send",
        "/messages/send",
    }
    # 2 (create_recipients) + 2 (emails) + 1 canvas + 2 send_email
    assert sandbox_proc.stats()["accepted_recipients"] == 7
