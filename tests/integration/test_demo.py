"""`make demo` (scripts/demo.py) on a fresh broker of its own: the README's first command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_demo_shows_what_braze_received(tmp_path: Path) -> None:
    env = {**os.environ, "BRIDGE_DEMO_STATE": str(tmp_path / "demo")}
    r = subprocess.run(
        [sys.executable, "scripts/demo.py"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    out = r.stdout
    assert "POST /campaigns/trigger/send -> 20" in out
    assert "POST /canvas/trigger/send -> 20" in out
    assert '"external_user_id": "user-42"' in out
    assert "[decode]" in out and "[rules] order-shipped: required field $.order.id" in out
    assert "bridge stopped (exit 0)" in out
