"""Real processes for integration tests: the sandbox and the bridge, as users run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from bridge.sandbox.process import SandboxProcess

REPO = Path(__file__).resolve().parents[2]
API_KEY = "it-secret-key-3f9a7c"  # the e2e tests grep every output for it


LIVE: list[Any] = []  # sandboxes, bridges and consoles still running; stopped after each test


def stop_all(kill: bool = False) -> None:
    """Stop every process still in :data:`LIVE` (best effort: a clean-up must not hide the
    test's own failure). ``kill`` sends bridges SIGKILL first: no drain to wait for after a
    fault test."""
    for proc in list(LIVE):
        try:
            if kill and isinstance(proc, Bridge) and proc.proc is not None:
                proc.proc.kill()
            proc.stop()
        except Exception:  # noqa: BLE001, S110 - best effort clean-up
            pass


class Sandbox(SandboxProcess):
    """``braze-bridge sandbox`` in a subprocess, stopped after the test if it is left running."""

    def __init__(self, *args: str, api_key: str = API_KEY) -> None:
        LIVE.append(self)
        self.api_key = api_key
        super().__init__(*args, api_key=api_key, cwd=REPO, startup_timeout_s=20)

    def stop(self) -> str:
        if self in LIVE:
            LIVE.remove(self)
        return super().stop()


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
        want = (labels or {}).items()
        return sum(
            v
            for n, ls, v in scrape_metrics(self.metrics())
            if n == name and all(ls.get(k) == x for k, x in want)
        )

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


def scrape_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a Prometheus text page as (name, labels, value): the one parser of
    the tests' metric reads."""
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (s.name, dict(s.labels), float(s.value))
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    ]
