"""End to end on real parts: Kafka broker, `braze-bridge run`, `braze-bridge sandbox`."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.config import bridge_config
from tests.support.kafka import (
    caught_up,
    committed,
    create_topics,
    end_offsets,
    produce,
    read_all,
    unique,
    wait_committed,
)
from tests.support.procs import API_KEY, REPO, Bridge, Sandbox
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

RESULTS = REPO / ".local" / "results"


def config(
    bootstrap: str, sandbox: Sandbox, group: str, orders: str, carts: str, dlq: str, **extra: Any
) -> dict[str, Any]:
    cfg = bridge_config(
        bootstrap,
        sandbox.url,
        group=group,
        dlq=dlq,
        rules=[
            {
                "name": "shipped",
                "topic": orders,
                "when": {"type": "order.shipped"},
                "action": "campaign_trigger",
                "campaign_id": "c-shipped",
                "recipient": {"external_user_id": "$.user.id"},
                "trigger_properties": {
                    "order_id": "$.order.id",
                    "total": "$.order.total",
                    "note": "{{${first_name}}}",
                },
            },
            {
                "name": "shipped-journey",
                "topic": orders,
                "when": {"type": "order.shipped"},
                "action": "canvas_trigger",
                "canvas_id": "cv-ship",
                "recipient": {"external_user_id": "$.user.id"},
                "context": {"order_id": "$.order.id"},
            },
            {
                "name": "vip",
                "topic": orders,
                "when": {"type": "order.placed", "$.order.total": {"gte": 500}},
                "action": "canvas_trigger",
                "canvas_id": "cv-vip",
                "recipient": {"email": "$.user.email", "prioritization": ["identified"]},
                "context": {"order_id": "$.order.id"},
            },
            {
                "name": "cart",
                "topic": carts,
                "when": {"type": {"one_of": ["cart.abandoned"]}},
                "action": "campaign_trigger",
                "campaign_id": "c-cart",
                "recipient": {"user_alias": {"alias_name": "$.user.id", "alias_label": "shop"}},
                "trigger_properties": {"order_id": "$.cart.id"},
            },
        ],
    )
    cfg.update(extra)
    return cfg


def make_events(
    orders: str, carts: str, n_orders: int, n_carts: int, seed: int = 7
) -> tuple[
    list[tuple[str, bytes | None, bytes | None, int | None]],
    Counter[tuple[str, str, str]],
    int,
    int,
]:
    """Events plus the expected multiset of (target, recipient, order_id) and bad counts."""
    rnd = random.Random(seed)
    msgs: list[tuple[str, bytes | None, bytes | None, int | None]] = []
    expected: Counter[tuple[str, str, str]] = Counter()
    garbage = missing = 0
    for i in range(n_orders):
        uid = f"u{rnd.randrange(400)}"  # repeats: the same user several times per batch
        oid = f"o{i}"
        r = rnd.random()
        key = uid.encode()
        if r < 0.01:
            msgs.append((orders, key, b"{not json" + str(i).encode(), None))
            garbage += 1
            continue
        if r < 0.015:
            ev = {"type": "order.shipped", "user": {"id": uid}, "order": {"total": 1}}
            missing += 1  # order.id missing: both shipped rules dead-letter it
        elif r < 0.55:
            ev = {"type": "order.shipped", "user": {"id": uid}, "order": {"id": oid, "total": i}}
            expected[("c-shipped", uid, oid)] += 1
            expected[("cv-ship", uid, oid)] += 1
        elif r < 0.85:
            total = rnd.choice([20, 600])
            ev = {
                "type": "order.placed",
                "user": {"id": uid, "email": f"{uid}@example.com"},
                "order": {"id": oid, "total": total},
            }
            if total >= 500:
                expected[("cv-vip", f"{uid}@example.com", oid)] += 1
        else:
            ev = {"type": "order.viewed", "user": {"id": uid}}
        msgs.append((orders, key, orjson.dumps(ev), None))
    for i in range(n_carts):
        uid = f"s{rnd.randrange(300)}"
        cid = f"cart{i}"
        ev = {
            "type": rnd.choice(["cart.abandoned", "cart.updated"]),
            "user": {"id": uid},
            "cart": {"id": cid},
        }
        if ev["type"] == "cart.abandoned":
            expected[("c-cart", uid, cid)] += 1
        msgs.append((carts, uid.encode(), orjson.dumps(ev), None))
    return msgs, expected, garbage, missing


def delivered(sandbox: Sandbox) -> tuple[Counter[tuple[str, str, str]], list[dict[str, Any]]]:
    reqs = [
        r
        for r in sandbox.requests()
        if r["path"] in ("/campaigns/trigger/send", "/canvas/trigger/send")
    ]
    got: Counter[tuple[str, str, str]] = Counter()
    for r in reqs:
        if not 200 <= r["status"] < 300:
            continue
        body = r["body"]
        target = body.get("campaign_id") or body.get("canvas_id")
        for rc in body["recipients"]:
            who = rc.get("external_user_id") or rc.get("email") or rc["user_alias"]["alias_name"]
            props = rc.get("trigger_properties") or rc.get("context") or {}
            got[(target, who, props.get("order_id"))] += 1
    return got, reqs


def test_end_to_end_thousands_of_events(kafka_bootstrap: str, tmp_path: Path) -> None:
    orders, carts, dlq = unique("orders"), unique("carts"), unique("dlq")
    create_topics(kafka_bootstrap, {orders: 4, carts: 2, dlq: 2})
    sandbox = Sandbox(
        "--campaign-id",
        "c-shipped",
        "--campaign-id",
        "c-cart",
        "--canvas-id",
        "cv-ship",
        "--canvas-id",
        "cv-vip",
    )
    group = unique("grp")
    msgs, expected, garbage, missing = make_events(orders, carts, 6000, 1500)
    produce(kafka_bootstrap, msgs)
    bridge = Bridge(tmp_path, config(kafka_bootstrap, sandbox, group, orders, carts, dlq))
    t0 = time.monotonic()
    bridge.start()
    try:
        assert wait_committed(kafka_bootstrap, group, [orders, carts], 120), bridge.log()[-3000:]
        elapsed = time.monotonic() - t0
        got, reqs = delivered(sandbox)
        consumed = bridge.metric("bridge_events_consumed_total")
        dead = bridge.metric("bridge_events_dead_lettered_total")
        skipped = bridge.metric("bridge_events_skipped_total")
    finally:
        rc = bridge.stop()
        sandbox_err = sandbox.stop()
    assert rc == 0, bridge.log()[-3000:]
    # every matching event's recipient was accepted, exactly once in a clean run
    assert got == expected
    # Braze's limits: at most 50 recipients, no duplicate recipient within one request
    for r in reqs:
        ids = [json.dumps(rc, sort_keys=True) for rc in r["body"]["recipients"]]
        who = [
            rc.get("external_user_id") or rc.get("email") or str(rc.get("user_alias"))
            for rc in r["body"]["recipients"]
        ]
        assert len(ids) <= 50
        assert len(who) == len(set(who)), "duplicate recipient inside one request"
        assert r["status"] in (200, 201)
    # Liquid passes through untouched
    assert any("{{${first_name}}}" in json.dumps(r["body"]) for r in reqs)
    # committed offsets reached the end offsets
    assert caught_up(
        committed(kafka_bootstrap, group, orders), end_offsets(kafka_bootstrap, orders)
    )
    # the dead-letter topic holds exactly the undecodable and unmappable events, with reasons
    dl = read_all(kafka_bootstrap, dlq)
    stages = Counter(dict(m.headers())["__bridge.errors.stage"].decode() for m in dl)
    assert stages == {"decode": garbage, "rules": 2 * missing}
    source = {(m.partition(), m.offset()): m.value() for m in read_all(kafka_bootstrap, orders)}
    for m in dl:
        h = dict(m.headers())
        assert h["__bridge.errors.topic"].decode() == orders
        # partition and offset name the very record that was dead-lettered
        where = (int(h["__bridge.errors.partition"]), int(h["__bridge.errors.offset"]))
        assert source.get(where) == m.value(), where
        if h["__bridge.errors.stage"] == b"decode":
            assert m.value().startswith(b"{not json")
            assert b"invalid JSON" in h["__bridge.errors.message"]
        else:
            assert b"order.id" in h["__bridge.errors.message"]
            assert h["__bridge.errors.rule"] in (b"shipped", b"shipped-journey")
    # counters add up: every consumed event is matched, skipped or dead-lettered
    assert consumed == len(msgs)
    assert dead == garbage + 2 * missing
    assert skipped > 0
    # the key never appears in logs, metrics or dead letters
    assert API_KEY not in bridge.log() and API_KEY not in sandbox_err
    assert all(API_KEY.encode() not in (m.value() or b"") for m in dl)
    n_req = len(reqs)
    recips = sum(got.values())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "e2e.json").write_text(
        json.dumps(
            {
                "events": len(msgs),
                "elapsed_s": round(elapsed, 2),
                "events_per_s": round(len(msgs) / elapsed),
                "requests": n_req,
                "recipients": recips,
                "recipients_per_request": round(recips / n_req, 2),
            }
        )
    )


def test_sigterm_mid_run_then_restart_loses_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    orders, carts, dlq = unique("orders"), unique("carts"), unique("dlq")
    create_topics(kafka_bootstrap, {orders: 4, carts: 1, dlq: 1})
    sandbox = Sandbox("--faults", json.dumps({"latency_ms": {"min": 20, "max": 60}}))
    group = unique("grp")
    msgs, expected, _, _ = make_events(orders, carts, 15000, 0, seed=3)
    produce(kafka_bootstrap, msgs)
    cfg = config(kafka_bootstrap, sandbox, group, orders, carts, dlq)
    cfg["braze"]["max_in_flight"] = 4
    cfg["kafka"]["max_events_in_flight"] = 300  # back-pressure: pause, resume, no loss
    first = Bridge(tmp_path, cfg, name="first").start()
    try:
        wait_for("40 requests at the sandbox", lambda: len(sandbox.requests()) >= 40, 60, 0.2)
        first.terminate()
        rc = first.wait(40)
        assert rc == 0, first.log()[-3000:]
        mid = committed(kafka_bootstrap, group, orders)
        assert sum(max(v, 0) for v in mid.values()) < len(msgs), (
            "stopped too late to test a restart"
        )
        second = Bridge(tmp_path, cfg, name="second").start()
        assert wait_committed(kafka_bootstrap, group, [orders], 180), second.log()[-3000:]
        assert second.stop() == 0
        got, _ = delivered(sandbox)
    finally:
        sandbox.stop()
    missing = expected - got
    assert not missing, f"lost {sum(missing.values())} recipients"
    # A graceful stop drains in-flight work and commits it: nothing is sent twice.
    duplicates = got - expected
    assert sum(duplicates.values()) == 0, f"{sum(duplicates.values())} duplicates"
    assert "drained" in first.log()


def test_kip848_consumer_protocol_with_two_replicas(kafka_bootstrap: str, tmp_path: Path) -> None:
    orders, carts, dlq = unique("orders"), unique("carts"), unique("dlq")
    create_topics(kafka_bootstrap, {orders: 4, carts: 1, dlq: 1})
    sandbox = Sandbox()
    group = unique("grp")
    msgs, expected, _, _ = make_events(orders, carts, 3000, 200, seed=11)
    cfg = config(kafka_bootstrap, sandbox, group, orders, carts, dlq)
    cfg["kafka"]["group_protocol"] = "consumer"
    cfg["observability"]["port"] = 0
    a = Bridge(tmp_path, cfg, name="a").start()
    b = Bridge(tmp_path, cfg, name="b").start()
    try:
        wait_for(  # the broker (KIP-848) splits the partitions
            "both bridges to log an assignment",
            lambda: all("partitions assigned" in x.log() for x in (a, b)),
            60,
            0.3,
        )
        produce(kafka_bootstrap, msgs)
        assert wait_committed(kafka_bootstrap, group, [orders, carts], 120), a.log()[-2000:]
        got, _ = delivered(sandbox)
    finally:
        rcs = (a.stop(), b.stop())
        sandbox.stop()
    assert rcs == (0, 0), (a.log()[-2000:], b.log()[-2000:])
    assert not expected - got, "lost recipients"
    assert "partitions assigned" in a.log() and "partitions assigned" in b.log()


def test_sigterm_during_start_up_exits_0(kafka_bootstrap: str, tmp_path: Path) -> None:
    orders, carts, dlq = unique("orders"), unique("carts"), unique("dlq")
    create_topics(kafka_bootstrap, {orders: 1, carts: 1, dlq: 1})
    sandbox = Sandbox()
    try:
        cfg = config(kafka_bootstrap, sandbox, unique("grp"), orders, carts, dlq)
        for delay in (0.3, 1.0):
            bridge = Bridge(tmp_path, cfg, name=f"early{delay}").start()
            time.sleep(delay)  # the behaviour under test: SIGTERM this long into start-up
            bridge.terminate()
            assert bridge.wait(30) == 0, bridge.log()[-2000:]
    finally:
        sandbox.stop()


def test_repeated_sigterm_during_a_long_drain_still_exits_0(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    orders, carts, dlq = unique("orders"), unique("carts"), unique("dlq")
    create_topics(kafka_bootstrap, {orders: 2, carts: 1, dlq: 1})
    # Every request hangs: the drain waits for its deadline while we keep sending SIGTERM.
    sandbox = Sandbox("--faults", json.dumps({"hang_rate": 1.0, "hang_s": 30}))
    try:
        msgs, _, _, _ = make_events(orders, carts, 500, 0, seed=5)
        produce(kafka_bootstrap, msgs)
        cfg = config(kafka_bootstrap, sandbox, unique("grp"), orders, carts, dlq)
        cfg["shutdown"] = {"drain_deadline_s": 2}
        bridge = Bridge(tmp_path, cfg).start()
        wait_for("a request at the sandbox", sandbox.requests, 30, 0.2)
        t0 = time.monotonic()
        while bridge.proc is not None and bridge.proc.poll() is None:
            bridge.terminate()
            time.sleep(0.05)  # the behaviour under test: SIGTERM after SIGTERM, 20 a second
            assert time.monotonic() - t0 < 30
        assert bridge.wait(5) == 0, bridge.log()[-2000:]
        assert "drain deadline reached" in bridge.log()
    finally:
        sandbox.stop()
