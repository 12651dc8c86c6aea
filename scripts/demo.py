"""`make demo`: a real Kafka broker, the Braze sandbox and the bridge, fed with sample events.

Starts everything locally (fetching Kafka from Maven Central on the first run), produces
config/events/*.jsonl (the file name is the topic), waits until the bridge has committed
every event, then shows what the Braze sandbox received and what went to the dead-letter
topic. Everything is stopped at the end (pass --keep to leave Kafka running).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("BRIDGE_DEMO_STATE", REPO / ".local" / "demo"))
KEY = "demo-" + os.urandom(6).hex()


def rel(p: Path) -> str:
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def say(msg: str) -> None:
    print(f"\033[1m==> {msg}\033[0m", flush=True)


def harness() -> Any:
    spec = importlib.util.spec_from_file_location(
        "local_kafka", REPO / "scripts" / "local_kafka.py"
    )
    if spec is None or spec.loader is None:
        raise SystemExit("scripts/local_kafka.py not found")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_topics(bootstrap: str, topics: dict[str, int]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=15).topics
    new = [
        NewTopic(t, num_partitions=n, replication_factor=1)
        for t, n in topics.items()
        if t not in existing
    ]
    for f in admin.create_topics(new).values() if new else []:
        f.result(30)


def positions(bootstrap: str, group: str, topics: list[str]) -> tuple[int, int]:
    """(committed, end) summed over the topics; (0, -1) while the broker is still settling."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return _positions(c, topics)
    except KafkaException:  # e.g. NOT_COORDINATOR right after the broker started
        return 0, -1
    finally:
        c.close()


def _positions(c: Consumer, topics: list[str]) -> tuple[int, int]:
    done = end = 0
    for t in topics:
        parts = c.list_topics(t, timeout=10).topics[t].partitions
        tps = [TopicPartition(t, p) for p in parts]
        for tp in c.committed(tps, timeout=10):
            done += max(tp.offset, 0)
        for tp in tps:
            end += c.get_watermark_offsets(tp, timeout=10)[1]
    return done, end


def open_console(cfg_path: Path, sandbox_url: str, port: int) -> None:
    """`make console`: the console on the demo's config and sandbox, until Ctrl-C."""
    cmd = [sys.executable, "-m", "bridge", "console", "--config", str(cfg_path)]
    cmd += ["--sandbox", sandbox_url, "--port", str(port), "--events", str(REPO / "config/events")]
    console = subprocess.Popen(
        cmd, cwd=REPO, env={**os.environ, "BRAZE_API_KEY": KEY}, stdout=subprocess.PIPE, text=True
    )
    line = console.stdout.readline().strip() if console.stdout else ""
    say(f"console: {line.rsplit(' ', 1)[-1] or '(did not start)'}  (Ctrl-C stops everything)")
    print("    the bridge, the sandbox and Kafka keep running: produce more events and watch")
    try:
        console.wait()
    except KeyboardInterrupt:
        console.send_signal(signal.SIGTERM)
        console.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--keep", action="store_true", help="leave the Kafka broker running")
    ap.add_argument(
        "--console",
        action="store_true",
        help="then keep everything running and open `braze-bridge console` on it (Ctrl-C ends)",
    )
    ap.add_argument("--console-port", type=int, default=4020, help="console port (4020)")
    args = ap.parse_args()
    lk = harness()
    STATE.mkdir(parents=True, exist_ok=True)
    say("starting Kafka (KRaft, single node, jars from Maven Central; first run fetches them)")
    bootstrap = lk.start(STATE / "kafka")
    print(f"    bootstrap {bootstrap}")
    events = sorted((REPO / "config" / "events").glob("*.jsonl"))
    topics = {p.stem: 3 for p in events}
    ensure_topics(bootstrap, {**topics, "braze-bridge.dlq": 1})

    sandbox: subprocess.Popen[str] | None = None
    bridge: subprocess.Popen[bytes] | None = None
    rc = 1
    try:
        say("starting the Braze sandbox (braze-bridge sandbox)")
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "bridge", "sandbox", "--port", "0", "--api-key", KEY],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        if sandbox.stdout is None:
            raise SystemExit("sandbox did not start")
        url = sandbox.stdout.readline().strip().rsplit(" ", 1)[-1]
        print(f"    {url}")

        cfg = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
        group = "braze-bridge-demo-" + os.urandom(3).hex()
        cfg["kafka"].update({"bootstrap_servers": bootstrap, "group_id": group})
        cfg["braze"]["rest_endpoint"] = url
        metrics_port = free_port()
        cfg["observability"] = {"port": metrics_port, "host": "127.0.0.1", "log_format": "text"}
        cfg_path = STATE / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        say(f"starting the bridge: braze-bridge run --config {rel(cfg_path)}")
        log_path = STATE / "bridge.log"
        with open(log_path, "wb") as log:
            bridge = subprocess.Popen(
                [sys.executable, "-m", "bridge", "run", "--config", str(cfg_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env={**os.environ, "BRAZE_API_KEY": KEY},
            )
        say("producing sample events from config/events/")
        p = Producer({"bootstrap.servers": bootstrap})
        n = 0
        for path in events:
            for line in path.read_text().splitlines():
                if line.strip():
                    p.produce(path.stem, value=line.encode(), key=None)
                    n += 1
            print(f"    {path.name}: -> topic {path.stem}")
        p.flush(30)
        del p
        print(f"    {n} events produced")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            done, end = positions(bootstrap, group, list(topics))
            if end > 0 and done >= end:
                break
            if bridge.poll() is not None:
                print(log_path.read_text()[-3000:])
                raise SystemExit(f"bridge exited with {bridge.returncode}")
            time.sleep(0.5)
        say("what the Braze sandbox received (GET /_sandbox/requests)")
        reqs = httpx.get(f"{url}/_sandbox/requests", timeout=10).json()["requests"]
        for r in reqs:
            body = r.get("body") or {}
            target = body.get("campaign_id") or body.get("canvas_id")
            print(
                f"\n  {r['method']} {r['path']} -> {r['status']}  target={target}  "
                f"recipients={len(body.get('recipients') or [])}"
            )
            print(
                "  " + orjson.dumps(body, option=orjson.OPT_INDENT_2).decode().replace("\n", "\n  ")
            )
        say("dead-letter topic braze-bridge.dlq")
        c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "demo-reader-" + group,
                "auto.offset.reset": "earliest",
            }
        )
        c.subscribe(["braze-bridge.dlq"])
        seen = 0
        t_end = time.monotonic() + 8
        while time.monotonic() < t_end:
            for m in c.consume(100, 0.5):
                if m.error():
                    continue
                h = {k: (v or b"").decode() for k, v in (m.headers() or [])}
                if h.get("__bridge.errors.topic") not in topics:
                    continue
                seen += 1
                print(
                    f"  [{h.get('__bridge.errors.stage')}] {h.get('__bridge.errors.rule', '-')}:"
                    f" {h.get('__bridge.errors.message')}  (from {h.get('__bridge.errors.topic')}"
                    f"/{h.get('__bridge.errors.partition')}@{h.get('__bridge.errors.offset')})"
                )
            if seen >= 2:
                break
        c.close()
        say("bridge metrics (excerpt of /metrics)")
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith(
                ("bridge_events_", "bridge_recipients_sent_total", "bridge_requests_total")
            ):
                print("  " + line)
        print(f"\n  bridge log: {rel(log_path)}")
        if args.console:
            open_console(cfg_path, url, args.console_port)
    finally:
        if bridge is not None:
            bridge.send_signal(signal.SIGTERM)
            rc = bridge.wait(60)
        say(
            f"bridge stopped (exit {rc}); stopping the sandbox"
            + ("" if args.keep else " and Kafka")
        )
        if sandbox is not None:
            sandbox.send_signal(signal.SIGTERM)
            sandbox.wait(10)
            if sandbox.stdout is not None:
                sandbox.stdout.close()
        if not args.keep:
            lk.stop(STATE / "kafka")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
