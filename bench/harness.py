"""Real parts for the benchmarks: broker, sandbox, bridge processes, producers, samplers.

Everything runs on loopback. Every process started here is stopped by the object that
started it (``stop()``), and every wait is bounded in time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import yaml
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bridge.sandbox.process import SandboxProcess

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
STATE = REPO / ".local"
# The checkout whose bridge the scenarios run (``--bridge-tree``): the same harness, broker,
# sandbox and baselines measure another version's bridge process side by side with this one.
BRIDGE_TREE = REPO
API_KEY = "bench-key-7d1e"
PY = sys.executable


class BenchError(RuntimeError):
    """A scenario could not run correctly (crash, lost events, bad exit)."""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# -- broker --------------------------------------------------------------------------------
class Broker:
    """KAFKA_BOOTSTRAP when set, else a fresh local broker in ``.local/bench-kafka``."""

    def __init__(self) -> None:
        self.state_dir = STATE / "bench-kafka"
        self._harness: ModuleType | None = None
        self.bootstrap = ""
        self.started_s = 0.0

    def start(self) -> str:
        t0 = time.monotonic()
        existing = os.environ.get("KAFKA_BOOTSTRAP")
        if existing:
            self.bootstrap = existing
        else:
            self._harness = _load_script("local_kafka")
            self.bootstrap = self._harness.start(self.state_dir, fresh=True)
        self.started_s = time.monotonic() - t0
        return self.bootstrap

    def stop(self) -> None:
        if self._harness is not None:
            self._harness.stop(self.state_dir)
            self._harness = None


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futs = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    for f in futs.values():
        f.result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        md = admin.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is not None and not t.error and len(t.partitions) == partitions:
            return
        time.sleep(0.1)
    raise BenchError(f"topic {topic} not visible")


def produce_values(
    bootstrap: str, topic: str, values: Sequence[bytes], partitions: int, timeout: float = 600
) -> float:
    """Produce pre-generated values round-robin over partitions as fast as possible."""
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "batch.num.messages": 10_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
            "queue.buffering.max.kbytes": 512 * 1024,
            "acks": "1",
        }
    )
    errors: list[Any] = []

    def cb(err: Any, _m: Any) -> None:
        if err is not None:
            errors.append(err)

    t0 = time.monotonic()
    deadline = t0 + timeout
    prod = p.produce
    for i, v in enumerate(values):
        while True:
            try:
                prod(topic, v, partition=i % partitions, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.01)
                if time.monotonic() > deadline:
                    raise BenchError("producing timed out") from None
        if i % 10_000 == 0:
            p.poll(0)
    left = p.flush(max(deadline - time.monotonic(), 1))
    if left or errors:
        raise BenchError(f"produce failed: {left} unflushed, errors {errors[:3]}")
    return time.monotonic() - t0


class Offsets:
    """End offsets of a topic and committed offsets of groups (one reusable client)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._c = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": unique("bench-probe")}
        )  # never subscribes: committed() of any group via a fresh client per group below
        self.bootstrap = bootstrap
        md = self._c.list_topics(topic, timeout=10)
        self.partitions = sorted(md.topics[topic].partitions)
        self._groups: dict[str, Consumer] = {}

    def end(self) -> int:
        total = 0
        for p in self.partitions:
            _lo, hi = self._c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
            total += hi
        return total

    def committed(self, group: str) -> int:
        c = self._groups.get(group)
        if c is None:
            c = self._groups[group] = Consumer(
                {"bootstrap.servers": self.bootstrap, "group.id": group}
            )
        try:
            res = c.committed([TopicPartition(self.topic, p) for p in self.partitions], timeout=10)
        except KafkaException:
            return 0
        return sum(max(tp.offset, 0) for tp in res)

    def close(self) -> None:
        for c in self._groups.values():
            c.close()
        self._c.close()


# -- processes -----------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Sandbox(SandboxProcess):
    """``python -m bridge sandbox`` as a real process."""

    def __init__(self, *args: str) -> None:
        try:
            super().__init__(*args, api_key=API_KEY, cwd=REPO)
        except RuntimeError as exc:
            raise BenchError(f"sandbox did not start: {exc}") from exc


def bridge_config(
    bootstrap: str,
    sandbox_url: str,
    group: str,
    dlq: str,
    rules: list[dict[str, Any]],
    **overrides: Any,
) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap, "group_id": group, "dead_letter_topic": dlq},
        "braze": {"rest_endpoint": sandbox_url, "api_key": "${BRAZE_API_KEY}"},
        "batching": {"max_recipients": 50, "linger_ms": 100},
        "observability": {"port": free_port(), "host": "127.0.0.1", "log_level": "WARNING"},
        "shutdown": {"drain_deadline_s": 20},
        "rules": rules,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


class BridgeProc:
    """``python -m bridge run --config F`` as a real process."""

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any],
        name: str = "bridge",
        prefix: Sequence[str] = (),
    ) -> None:
        self.path = workdir / f"{name}.yaml"
        self.path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = workdir / f"{name}.log"
        self.port = int(config["observability"]["port"])
        self.name = name
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "BRAZE_API_KEY": API_KEY}
        self.proc = subprocess.Popen(
            [*prefix, PY, "-m", "bridge", "run", "--config", str(self.path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=BRIDGE_TREE,  # python -m bridge imports the bridge of that checkout
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5)
        self.rc: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def metrics(self) -> dict[str, float]:
        """Flat ``name{labels}`` -> value, plus per-name sums under the bare name."""
        from prometheus_client.parser import text_string_to_metric_families

        out: dict[str, float] = {}
        text = self.http.get("/metrics").text
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out[s.name] = out.get(s.name, 0.0) + s.value
                if s.labels:
                    lab = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                    out[f"{s.name}{{{lab}}}"] = s.value
        return out

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited {self.proc.returncode}: {self.log()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                self.http.get("/metrics")
                return
            time.sleep(0.1)
        raise BenchError(f"{self.name}: metrics endpoint not up: {self.log()[-2000:]}")

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 60) -> int:
        if self.rc is not None:
            return self.rc
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self.rc = -9
        self._log.close()
        if self.rc is None:
            self.rc = self.proc.returncode
        return self.rc

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def run_json_subprocess(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run a bench helper process that prints one JSON object on its last stdout line."""
    import json

    env = {**os.environ, "BRAZE_API_KEY": API_KEY}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False, env=env
    )
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:4])} exited {proc.returncode}: {proc.stderr[-2000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    out: dict[str, Any] = json.loads(lines[-1])
    return out


# -- sampling ------------------------------------------------------------------------------
@dataclass
class Sample:
    t: float  # seconds since the sampler started
    values: dict[str, float] = field(default_factory=dict)


class Sampler:
    """Samples bridge /metrics, sandbox stats, RSS/CPU of processes, on a background thread."""

    def __init__(
        self,
        interval: float,
        bridges: Iterable[BridgeProc] = (),
        sandbox: Sandbox | None = None,
        offsets: Offsets | None = None,
        group: str | None = None,
        metric_names: Sequence[str] = (
            "bridge_events_consumed_total",
            "bridge_recipients_sent_total",
            "bridge_requests_total",
        ),
    ) -> None:
        self.interval = interval
        self.bridges = list(bridges)
        self.sandbox = sandbox
        self.offsets = offsets
        self.group = group
        self.metric_names = tuple(metric_names)
        self.samples: list[Sample] = []
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def _one(self) -> Sample:
        s = Sample(time.monotonic() - self.t0)
        v = s.values
        for i, b in enumerate(self.bridges):
            if b.proc.poll() is None:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    m = b.metrics()
                    for name in self.metric_names:
                        v[name] = v.get(name, 0.0) + m.get(name, 0.0)
                v[f"rss_mb_{i}"] = rss_mb(b.pid)
                v[f"cpu_s_{i}"] = cpu_s(b.pid)
        if self.sandbox is not None:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                st = self.sandbox.stats()
                v["sb_requests"] = st.get("requests_total", 0)
                v["sb_accepted"] = st.get("accepted_total", 0)
                v["sb_recipients"] = st.get("accepted_recipients", 0)
                v["sb_429"] = st.get("rate_limited_total", 0)
        if self.offsets is not None and self.group is not None:
            v["committed"] = self.offsets.committed(self.group)
        return s

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.monotonic()
            s = self._one()
            with self._lock:
                self.samples.append(s)
            self._stop.wait(max(self.interval - (time.monotonic() - t), 0.01))

    def latest(self) -> Sample | None:
        with self._lock:
            return self.samples[-1] if self.samples else None

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(10)
        return self.samples


def steady_window(
    samples: Sequence[Sample], key: str, total: float
) -> tuple[float, float, float] | None:
    """(start, end, value at start) of the steady phase: from the first sample with ``key`` >
    0 to the moment it reaches ``total``.

    Interpolates both ends linearly inside their sampling interval, so short runs are not
    biased by the sampling period.
    """
    pts = [(s.t, s.values[key]) for s in samples if key in s.values]
    start = end = None
    start_v = 0.0
    for (t_a, v_a), (t_b, v_b) in zip(pts, pts[1:], strict=False):
        if start is None and v_b > 0:
            # the first progress happened somewhere in (t_a, t_b]; use the midpoint
            start = (t_a + t_b) / 2 if v_a == 0 else t_a
            start_v = 0.0 if v_a == 0 else v_a
        if start is not None and v_b >= total:
            frac = (total - v_a) / (v_b - v_a) if v_b > v_a else 1.0
            end = t_a + frac * (t_b - t_a)
            break
    if start is None or end is None or end <= start:
        return None
    return start, end, start_v


def steady_rate(samples: Sequence[Sample], key: str, total: float) -> tuple[float, float]:
    """(rate, seconds) of the steady phase (see :func:`steady_window`)."""
    w = steady_window(samples, key, total)
    if w is None:
        return 0.0, 0.0
    start, end, start_v = w
    return (total - start_v) / (end - start), end - start


def value_at(samples: Sequence[Sample], key: str, t: float) -> float | None:
    """``key`` at time ``t``, interpolated linearly between the samples around it."""
    pts = [(s.t, s.values[key]) for s in samples if key in s.values]
    for (t_a, v_a), (t_b, v_b) in zip(pts, pts[1:], strict=False):
        if t_a <= t <= t_b:
            return v_a + (v_b - v_a) * ((t - t_a) / (t_b - t_a) if t_b > t_a else 1.0)
    return None


def wait_until(pred: Any, timeout: float, interval: float = 0.1, what: str = "condition") -> float:
    t0 = time.monotonic()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if pred():
            return time.monotonic() - t0
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
