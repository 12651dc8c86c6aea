"""``python -m bench.state``: the state store at scale (issue 17), old and new side by side.

1. Start-up with N live schedule keys in the state topic (default 1,000,000): a real bridge
   process with a schedule rule and one waiting event; measured from process start to the
   first request the sandbox received, plus RSS then and peak RSS. Runs: the old code (a
   tree given by ``--old``, e.g. a git worktree of the commit before the change) fresh;
   the new code fresh (empty store directory) and restarted (store intact).
2. A simulated week of schedule traffic (simulated clock, real topic with compaction that
   runs in seconds): records written, live keys, and the records left after compaction, with
   expiry on (new) and off (what the old code does: nothing is ever removed).

Writes ``bench/results/state.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from bench.harness import (
    API_KEY,
    PY,
    REPO,
    RESULTS,
    BenchError,
    Broker,
    Sandbox,
    create_topic,
    free_port,
    unique,
    wait_until,
)


def produce_state(bootstrap: str, topic: str, n: int) -> float:
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.num.messages": 10_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
        }
    )
    t0 = time.monotonic()
    for i in range(n):
        value = orjson.dumps(
            {
                "status": "active",
                "schedule_id": f"sched-{i:08d}",
                "path": "/campaigns/trigger/schedule/create",
                "target": {"campaign_id": "camp-reminder"},
                "time": "2099-01-01T10:00:00Z",
                "rule": "reminder",
                "updated": 1764633600000,
            }
        )
        while True:
            try:
                p.produce(topic, key=f"schedule/reminder/order-{i:08d}".encode(), value=value)
                break
            except BufferError:
                p.poll(0.05)
        if i % 20_000 == 0:
            p.poll(0)
    if p.flush(300):
        raise BenchError("state records not flushed")
    return time.monotonic() - t0


def vm(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_once(
    tree: Path, workdir: Path, name: str, cfg: dict[str, Any], sandbox: Sandbox, produce: Any
) -> dict[str, Any]:
    """Start a bridge of ``tree``; time to the sandbox's first request, RSS, then stop it."""
    httpx.delete(f"{sandbox.url}/_sandbox/requests", headers=sandbox_auth()).raise_for_status()
    produce()
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "BRAZE_API_KEY": API_KEY, "PYTHONPATH": str(tree)}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [PY, "-m", "bridge", "run", "--config", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tree,
    )
    try:

        def delivered() -> bool:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited {proc.returncode}")
            r = httpx.get(f"{sandbox.url}/_sandbox/requests", headers=sandbox_auth())
            return bool(r.json().get("requests"))

        wait_until(delivered, 900, 0.05, f"{name}: first delivery")
        first = time.monotonic() - t0
        rss, peak = vm(proc.pid, "VmRSS"), vm(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
    text = (workdir / f"{name}.log").read_text(errors="replace")
    restored = None
    for line in text.splitlines():
        if '"state restored"' in line:
            restored = orjson.loads(line).get("records")
    return {
        "run": name,
        "first_delivery_s": round(first, 2),
        "rss_mb": round(rss, 1),
        "peak_rss_mb": round(peak, 1),
        "records_read": restored,
    }


def sandbox_auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


def startup(bootstrap: str, keys: int, old: Path | None, workdir: Path) -> list[dict[str, Any]]:
    state, orders, dlq = unique("bench-state"), unique("bench-orders"), unique("bench-dlq")
    create_topic(bootstrap, orders, 1)
    create_topic(bootstrap, dlq, 1)
    print(f"bench.state: producing {keys:,} state keys ...", flush=True)
    secs = produce_state(bootstrap, state, keys)
    print(f"bench.state: produced in {secs:.1f}s", flush=True)
    sandbox = Sandbox("--hourly-limit", "1000000000")
    p = Producer({"bootstrap.servers": bootstrap})
    counter = [0]

    def one_event() -> None:
        counter[0] += 1
        body = {"type": "order.placed", "user": {"id": "u1"}, "order": {"id": f"new-{counter[0]}"}}
        p.produce(orders, orjson.dumps(body))
        p.flush(10)

    def cfg(store: Path) -> dict[str, Any]:
        return {
            "kafka": {
                "bootstrap_servers": bootstrap,
                "group_id": unique("bench-state-grp"),
                "dead_letter_topic": dlq,
                "state_topic": state,
                "state_dir": str(store),
            },
            "braze": {"rest_endpoint": sandbox.url, "api_key": "${BRAZE_API_KEY}"},
            "batching": {"linger_ms": 20},
            "observability": {"port": free_port(), "log_level": "INFO"},
            "rules": [
                {
                    "name": "reminder",
                    "topic": orders,
                    "when": {"type": "order.placed"},
                    "action": "campaign_schedule",
                    "campaign_id": "camp-reminder",
                    "recipient": {"external_user_id": "$.user.id"},
                    "schedule": {"key": "$.order.id", "time": "2099-01-01T10:00:00Z"},
                }
            ],
        }

    def old_cfg() -> dict[str, Any]:
        c = cfg(workdir / "unused")
        del c["kafka"]["state_dir"]  # the old code has no such field
        return c

    out: list[dict[str, Any]] = []
    store = workdir / "store"
    try:
        if old is not None:
            out.append(start_once(old, workdir, "old-fresh", old_cfg(), sandbox, one_event))
            print(f"bench.state: {out[-1]}", flush=True)
        out.append(start_once(REPO, workdir, "new-fresh", cfg(store), sandbox, one_event))
        print(f"bench.state: {out[-1]}", flush=True)
        out.append(start_once(REPO, workdir, "new-restart", cfg(store), sandbox, one_event))
        print(f"bench.state: {out[-1]}", flush=True)
    finally:
        sandbox.stop()
    return out


def topic_records(bootstrap: str, topic: str) -> int:
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique("count"), "enable.auto.commit": False}
    )
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=15)
    c.assign([TopicPartition(topic, 0, lo)])
    n, last = 0, lo
    deadline = time.monotonic() + 120
    while last < hi - 1 and time.monotonic() < deadline:
        for m in c.consume(10_000, 1.0):
            if m.error() is None:
                n += (m.key() or b"").startswith(b"schedule/")  # not the bench's filler
                last = m.offset() or last
    c.close()
    return n


def week(bootstrap: str, per_day: int, expiry: bool, workdir: Path) -> dict[str, Any]:
    """A week of one reminder per order, sent 1-3 days later, 10 % cancelled."""
    from bridge.kafka.state import StateStore
    from bridge.settings import KafkaSettings

    topic = unique("bench-week")
    # Compaction that runs within seconds: small segments, no lag, no tombstone retention.
    create_topic_compact(bootstrap, topic)
    clock = [datetime(2026, 12, 1, tzinfo=UTC).timestamp()]
    s = StateStore(
        KafkaSettings(
            bootstrap_servers=bootstrap,
            state_topic=topic,
            state_expiry=expiry,
            state_expiry_grace_s=3600,
        ),
        store_dir=workdir / f"week-{expiry}",
        clock=lambda: clock[0],
    )
    s.load()
    rng = random.Random(7)
    written = 0
    step = 86400 / per_day
    for i in range(per_day * 7):
        clock[0] += step
        now = datetime.fromtimestamp(clock[0], UTC)
        send = now + timedelta(seconds=rng.uniform(86400, 3 * 86400))
        key = f"schedule/reminder/order-{i}"
        s.put(key, {"status": "active", "schedule_id": f"s{i}", "time": send.isoformat()})
        written += 1
        if rng.random() < 0.1:
            s.put(key, {"status": "cancelled", "at": int(clock[0] * 1000)})
            written += 1
        if i % 500 == 0:
            s.poll()
            if expiry:
                while s.expire():
                    pass
    if expiry:
        while s.expire():
            pass
    s.flush(60)
    written += s.expired
    live = len(s)
    s.close()
    # Roll the active segment so the cleaner may compact it, then wait for compaction.
    produce_filler(bootstrap, topic)
    before = topic_records(bootstrap, topic)
    deadline = time.monotonic() + 180
    after = before
    while time.monotonic() < deadline:
        produce_filler(bootstrap, topic)  # new dirt makes the cleaner pass again (tombstones)
        time.sleep(3)
        after = topic_records(bootstrap, topic)
        if after <= live * 1.05:
            break
    return {
        "expiry": expiry,
        "records_written": written,
        "live_keys": live,
        "records_after_compaction": after,
    }


def create_topic_compact(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    cfg = {
        "cleanup.policy": "compact",
        "segment.bytes": str(1024 * 1024),
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": "0",
        "min.compaction.lag.ms": "0",
        "segment.ms": "1000",
    }
    admin.create_topics([NewTopic(topic, 1, 1, config=cfg)])[topic].result(30)


def produce_filler(bootstrap: str, topic: str) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for _ in range(2):
        time.sleep(1.2)  # segment.ms 1000: a record after it rolls the segment
        for _ in range(500):  # enough dirt (> min.cleanable.dirty.ratio) for another pass
            p.produce(topic, key=b"filler", value=b"{}")
        p.flush(10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.state", description=__doc__.split("\n")[0])
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--per-day", type=int, default=20_000)
    ap.add_argument("--old", type=Path, help="source tree of the old code to compare with")
    ap.add_argument("--skip-week", action="store_true")
    a = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-state-"))
    broker = Broker()
    result: dict[str, Any] = {"keys": a.keys}
    try:
        bootstrap = broker.start()
        result["startup"] = startup(bootstrap, a.keys, a.old, workdir)
        if not a.skip_week:
            result["week"] = [week(bootstrap, a.per_day, e, workdir) for e in (False, True)]
            print(f"bench.state: {result['week']}", flush=True)
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "state.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
