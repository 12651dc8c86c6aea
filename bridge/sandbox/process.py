"""The Braze sandbox as a child process, for test suites (this project's and its users').

    from bridge.sandbox.process import SandboxProcess

    sandbox = SandboxProcess("--hourly-limit", "3600", api_key="test-key")
    try:
        ...  # point the bridge (or your own client) at sandbox.url
        assert sandbox.stats()["accepted_recipients"] == 3
    finally:
        sandbox.stop()

It runs ``python -m bridge sandbox --port 0`` on loopback, waits for the line that names the
bound URL, and talks to the sandbox's inspection API (``/_sandbox/*``) with httpx.
"""

from __future__ import annotations

import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first non-empty line ``proc`` writes to stdout; RuntimeError if it exits or
    stays silent for ``timeout`` seconds."""
    if proc.stdout is None:
        raise RuntimeError("process has no stdout pipe")
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if sel.select(timeout=0.2):
                line = proc.stdout.readline()
                if line:
                    return line.strip()
            if proc.poll() is not None:
                break
    finally:
        sel.close()
    raise RuntimeError(f"process gave no output line (exit {proc.poll()})")


class SandboxProcess:
    """``braze-bridge sandbox`` on a free loopback port; ``stop()`` returns its stderr."""

    def __init__(
        self,
        *args: str,
        api_key: str,
        cwd: Path | None = None,
        startup_timeout_s: float = 30,
    ) -> None:
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, "-m", "bridge", "sandbox", "--host", "127.0.0.1", "--port", "0"]
        self.proc = subprocess.Popen(
            [*cmd, "--api-key", api_key, *args],
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            cwd=cwd,
        )
        self.http: httpx.Client | None = None
        try:
            self.url = read_line(self.proc, startup_timeout_s).rsplit(" ", 1)[-1]
        except RuntimeError:
            self.stop()
            raise
        # the state-changing /_sandbox/* calls need the API key (or the admin token)
        auth = {"Authorization": f"Bearer {api_key}"}
        self.http = httpx.Client(base_url=self.url, timeout=30, headers=auth)

    def _client(self) -> httpx.Client:
        if self.http is None:
            raise RuntimeError("sandbox is not running")
        return self.http

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = self._client().get("/_sandbox/stats").json()
        return out

    def requests(self, path: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """Accepted and refused requests as recorded (``/_sandbox/requests``)."""
        params: dict[str, Any] = {"since": since} if since else {}
        if path:
            params["path"] = path
        r = self._client().get("/_sandbox/requests", params=params)
        r.raise_for_status()
        out: list[dict[str, Any]] = r.json()["requests"]
        return out

    def faults(self, spec: dict[str, Any]) -> None:
        self._client().post("/_sandbox/faults", json=spec).raise_for_status()

    def clear_faults(self) -> None:
        self._client().delete("/_sandbox/faults").raise_for_status()

    def stop(self) -> str:
        """Stop the sandbox (SIGTERM, then SIGKILL after 10 s); return what it wrote to
        stderr. Safe to call twice."""
        if self.http is not None:
            self.http.close()
        if self.proc.stdout is None or self.proc.stdout.closed:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self._err.seek(0)
        err = self._err.read().decode(errors="replace")
        self._err.close()
        return err
