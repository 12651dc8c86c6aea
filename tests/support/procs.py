"""Real processes for integration tests: the sandbox and the bridge, as users run them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from bridge.sandbox.process import SandboxProcess
from bridge.settings import ObservabilitySettings
from tests.support.wait import wait_for

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


# What a bridge process is told about its metrics server: an ephemeral port whose number it
# logs at start-up (the start-up line below, read by Bridge.metrics_port()).
EPHEMERAL_METRICS = {"enabled": True, "port": 0, "host": "127.0.0.1"}
LISTENING = "metrics server listening"
_LISTENING_TEXT = re.compile(r" bridge\.health metrics server listening host=(\S+) port=(\d+)$")


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
        self._observability = dict(config.get("observability") or {})
        self._port: int | None = None
        self._log_start = 0

    def start(self) -> Bridge:
        LIVE.append(self)
        self._port = None  # a restarted bridge binds (and logs) its port anew
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(self.path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=REPO,
        )
        return self

    @property
    def port(self) -> int:
        """The metrics port of the running process: the configured one, or (``enabled: true,
        port: 0``) the one this run logged at start-up (waits for that line)."""
        if self._port is None:
            obs = ObservabilitySettings.model_validate(self._observability)
            if not obs.serves_http():
                raise AssertionError(f"{self.name} serves no metrics (observability: {obs})")
            self._port = obs.port or self.metrics_port()
        return self._port

    def metrics_port(self, timeout: float = 60) -> int:
        """Wait for this run's ``metrics server listening`` line and return its port; fail
        at once with the log's tail if the process exits first."""

        def logged() -> int | None:
            port = listening_port(self._run_log())
            if port is None and self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode}) before logging its metrics "
                    f"port:\n{self._run_log()[-3000:]}"
                )
            return port

        return wait_for(f"{self.name}'s '{LISTENING}' line", logged, timeout)

    def _run_log(self) -> str:
        """The log lines written since this run started (the file is kept across restarts)."""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_start)
            return f.read().decode(errors="replace")

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


def listening_port(log: str) -> int | None:
    """The port of the first complete ``metrics server listening`` line of a bridge's log,
    in the JSON or the text log format; None when there is none yet."""
    complete = log[: log.rfind("\n") + 1]
    for line in complete.splitlines():
        if LISTENING not in line:
            continue
        if line.startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("logger") == "bridge.health" and rec.get("msg") == LISTENING:
                return int(rec["port"])
        elif m := _LISTENING_TEXT.search(line):
            return int(m.group(2))
    return None
