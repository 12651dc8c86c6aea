"""Real processes for integration tests: the sandbox and the bridge, as users run them."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]
API_KEY = "it-secret-key-3f9a7c"  # the e2e tests grep every output for it


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(timeout=0.2):
            line = proc.stdout.readline()
            if line:
                return line.strip()
        if proc.poll() is not None:
            break
    raise RuntimeError(f"process gave no output line (exit {proc.poll()})")


LIVE: list[Any] = []  # sandboxes and bridges still running; stopped after each test


class Sandbox:
    """``braze-bridge sandbox`` in a subprocess."""

    def __init__(self, *args: str, api_key: str = API_KEY) -> None:
        LIVE.append(self)
        self.api_key = api_key
        cmd = [
            sys.executable,
            "-m",
            "bridge",
            "sandbox",
            "--port",
            "0",
            "--api-key",
            api_key,
            *args,
        ]
        import tempfile

        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._err, text=True, cwd=REPO
        )
        line = _read_line(self.proc, 20)
        self.url = line.rsplit(" ", 1)[-1]
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        params = {"path": path} if path else {}
        r = self.http.get("/_sandbox/requests", params=params)
        r.raise_for_status()
        out: list[dict[str, Any]] = r.json()["requests"]
        return out

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = self.http.get("/_sandbox/stats").json()
        return out

    def faults(self, spec: dict[str, Any]) -> None:
        self.http.post("/_sandbox/faults", json=spec).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete("/_sandbox/faults").raise_for_status()

    def stop(self) -> str:
        if self in LIVE:
            LIVE.remove(self)
        self.http.close()
        if self.proc.stdout is None or self.proc.stdout.closed:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.seek(0)
        err = self._err.read().decode(errors="replace")
        self._err.close()
        return err


def accepted_recipients(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in requests:
        if 200 <= r["status"] < 300 and isinstance(r.get("body"), dict):
            out.extend(r["body"].get("recipients") or [])
    return out


class Bridge:
    """``braze-bridge run`` in a subprocess with a config written to ``tmp``."""

    def __init__(
        self,
        tmp: Path,
        config: dict[str, Any],
        name: str = "bridge",
        env: dict[str, str] | None = None,
    ) -> None:
        self.path = tmp / f"{name}.yaml"
        self.path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = tmp / f"{name}.log"
        self.name = name
        self.env = {**os.environ, "BRAZE_API_KEY": API_KEY, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = int(config.get("observability", {}).get("port", 0))

    def start(self) -> Bridge:
        LIVE.append(self)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(self.path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=REPO,
        )
        return self

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for fam in text_string_to_metric_families(self.metrics()):
            for s in fam.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                    total += s.value
        return total

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout)
        finally:
            self._log.close()
        return rc

    def stop(self, timeout: float = 60) -> int:
        if self in LIVE:
            LIVE.remove(self)
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self._log.close()
            return self.proc.returncode if self.proc else 0
        self.terminate()
        return self.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
