"""`braze-bridge replay`: dead letters go through today's rules once the cause is fixed."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.support.config import bridge_config
from tests.support.kafka import create_topics, produce, read_all, unique, wait_committed
from tests.support.procs import API_KEY, REPO, Bridge, Sandbox, accepted_recipients

pytestmark = pytest.mark.integration


def replay(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return _replay(cfg, *args)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"replay hung; stderr: {exc.stderr!r}"[-3000:]) from None


def _replay(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "replay", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"BRAZE_API_KEY": API_KEY, "PATH": "/usr/bin:/bin"},
    )


def test_replay_after_fix_delivers_and_loop_guard_stops_poison(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    orders, dlq = unique("orders"), unique("dlq")
    create_topics(kafka_bootstrap, {orders: 2, dlq: 1})
    # The campaign does not exist yet: Braze answers 400 Invalid Campaign ID.
    sandbox = Sandbox("--campaign-id", "c-other")
    group = unique("grp")
    events = [
        (
            orders,
            f"u{i}".encode(),
            orjson.dumps(
                {"type": "order.shipped", "user": {"id": f"u{i}"}, "order": {"id": f"o{i}"}}
            ),
            None,
        )
        for i in range(60)
    ]
    events.append((orders, b"x", b"{garbage", None))
    produce(kafka_bootstrap, events)
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox.url,
        group=group,
        dlq=dlq,
        batching={"linger_ms": 50},
        observability={"port": 0},
        rules=[
            {
                "name": "shipped",
                "topic": orders,
                "when": {"type": "order.shipped"},
                "action": "campaign_trigger",
                "campaign_id": "c-late",
                "recipient": {"external_user_id": "$.user.id"},
                "trigger_properties": {"order_id": "$.order.id"},
            },
        ],
    )
    bridge = Bridge(tmp_path, cfg).start()
    try:
        assert wait_committed(kafka_bootstrap, group, [orders], 90), bridge.log()[-2000:]
    finally:
        rc = bridge.stop()
    assert rc == 0, bridge.log()[-2000:]
    first = read_all(kafka_bootstrap, dlq)
    classes = Counter(dict(m.headers())["__bridge.errors.class"].decode() for m in first)
    assert classes == {"bad_request": 60, "DecodeError": 1}
    h = next(
        dict(m.headers()) for m in first if dict(m.headers())["__bridge.errors.stage"] == b"deliver"
    )
    assert h["__bridge.errors.http.status"] == b"400"
    assert b"Invalid Campaign ID" in h["__bridge.errors.http.response"]
    assert accepted_recipients(sandbox.requests()) == []

    # Fix the cause (the campaign now exists) and replay: only the rule's failures.
    sandbox.http.post("/_sandbox/config", json={"campaign_ids": ["c-other", "c-late"]})
    sandbox.http.delete("/_sandbox/requests")
    r = replay(bridge.path, "--max-replays", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "replayed 61" in r.stdout
    got = sorted(rc["external_user_id"] for rc in accepted_recipients(sandbox.requests()))
    assert got == sorted(f"u{i}" for i in range(60))
    # The garbage failed again: back in the DLQ with replay count 1.
    after = read_all(kafka_bootstrap, dlq)
    again = [m for m in after[len(first) :]]
    assert len(again) == 1
    assert dict(again[0].headers())["__bridge.replay.count"] == b"1"

    # Replay again: progress was committed (nothing re-sent) and the loop guard holds.
    sandbox.http.delete("/_sandbox/requests")
    r2 = replay(bridge.path, "--max-replays", "1")
    sandbox.stop()
    assert r2.returncode == 0, r2.stderr[-2000:]
    assert "replayed 0" in r2.stdout and "loop-guard 1" in r2.stdout
    assert API_KEY not in r.stdout + r.stderr + r2.stdout + r2.stderr


def _dead_letters_in_a_transaction(bootstrap: str, dlq: str, orders: str) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique("txn")})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(6):
        h = {
            "__bridge.errors.stage": "deliver",
            "__bridge.errors.rule": "shipped",
            "__bridge.errors.class": "bad_request",
            "__bridge.errors.topic": orders,
            "__bridge.errors.partition": "0",
            "__bridge.errors.offset": str(i),
            "__bridge.errors.timestamp": "1700000000000",
            # D7: another tool wrote an ISO time into the last one
            "__bridge.errors.time": "2026-01-01T00:00:00Z" if i == 5 else "1700000000000",
        }
        value = orjson.dumps({"type": "order.shipped", "user": {"id": f"t{i}"}})
        p.produce(dlq, value=value, key=f"t{i}".encode(), headers=list(h.items()))
    p.commit_transaction(30)


def test_replay_finishes_on_transactional_dead_letters_and_skips_unreadable_headers(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """D8: the commit marker holds the last offset (6 records end at 7) and replay used to run
    until SIGTERM; D7: a non-integer context header used to exit 1 at that record."""
    orders, dlq = unique("orders"), unique("dlq")
    create_topics(kafka_bootstrap, {orders: 1, dlq: 1})
    _dead_letters_in_a_transaction(kafka_bootstrap, dlq, orders)
    sandbox = Sandbox("--campaign-id", "c-late")
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox.url,
        group=unique("grp"),
        dlq=dlq,
        batching={"linger_ms": 50},
        observability={"port": 0},  # never the default port: another process may hold it
        rules=[
            {
                "name": "shipped",
                "topic": orders,
                "action": "campaign_trigger",
                "campaign_id": "c-late",
                "recipient": {"external_user_id": "$.user.id"},
            },
        ],
    )
    bridge = Bridge(tmp_path, cfg)  # only its config file: replay runs alone
    r = replay(bridge.path)
    got = sorted(rc["external_user_id"] for rc in accepted_recipients(sandbox.requests()))
    sandbox.stop()
    assert r.returncode == 0, r.stderr[-2000:]
    assert "replayed 5" in r.stdout and "bad-header 1" in r.stdout, r.stdout
    assert got == [f"t{i}" for i in range(5)]
