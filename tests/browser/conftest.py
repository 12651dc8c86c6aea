"""Browser tests of ``braze-bridge console``: a real headless Chromium (Debian's package,
installed by ``scripts/install-browser``) driven by Playwright, against real processes
(the console, the sandbox, and for one test the broker and ``braze-bridge run``).

Playwright never downloads a browser here: it is pointed at /usr/bin/chromium. Without a
browser the tests skip with the reason; with ``CI`` set a skip fails the run
(tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.sandbox.process import read_line
from tests.support.procs import API_KEY as SANDBOX_KEY
from tests.support.procs import LIVE, REPO

CHROMIUM = os.environ.get("BRIDGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = REPO / "docs" / "img"


@pytest.fixture(scope="module")
def browser_context() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an asyncio loop running on this
    # thread while it is started, and every later asyncio.run() (the sender and transport unit
    # tests) would fail with "Cannot run the event loop while another loop is running".
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no browser at {CHROMIUM}: run scripts/install-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: make install")
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    pw = sync_playwright().start()
    try:
        ctx = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 860},
            # Playwright's waits evaluate expressions, which the console's CSP forbids
            bypass_csp=True,
        )
        ctx.set_default_timeout(15_000)
        try:
            yield ctx
        finally:
            ctx.close()
    finally:
        pw.stop()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    p = browser_context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    yield p
    p.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


class ConsoleProcess:
    """``braze-bridge console`` in a subprocess on a free loopback port."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "console", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            cwd=REPO,
            # the config's ${BRAZE_API_KEY} is the sandbox's key: the console uses it for the
            # sandbox's state-changing calls (faults), which need it
            env={**os.environ, "BRAZE_API_KEY": SANDBOX_KEY, **(env or {})},
        )
        LIVE.append(self)
        try:
            self.url = read_line(self.proc, 30).rsplit(" ", 1)[-1]
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> str:
        if self in LIVE:
            LIVE.remove(self)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.seek(0)
        err = self._err.read().decode(errors="replace")
        self._err.close()
        return err


def write_config(tmp: Path, sandbox_url: str, **changes: Any) -> Path:
    """config/example.yaml pointed at `sandbox_url`, with `changes` merged in."""
    cfg = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    cfg["braze"]["rest_endpoint"] = sandbox_url
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    path = tmp / "bridge.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    events = tmp / "events"
    if not events.exists():
        shutil.copytree(REPO / "config" / "events", events)
    return path


def open_console(page: Any, url: str, tab: str = "rules") -> None:
    page.goto(f"{url}#{tab}")
    page.wait_for_selector("body[data-ready=true]")


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=False)
