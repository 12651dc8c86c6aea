"""The budget as a shared, prioritised resource (issue #14 items 2-3), with real processes.

* Even spend: 4 bridges in one group share a sandbox pool scaled down to ``LIMIT`` requests per
  ``WINDOW_S`` seconds (clock-aligned windows, like Braze's hour). In each full window after
  the warm-up one: >= 95 % of the usable budget used, no 429, and every tenth of the window
  within +-15 % of an even spend (the old pacer spent most of it in the first tenths).
* Priorities: one bridge with a bulk backlog and a steady transactional stream. Bulk stops at
  ``delivery.bulk_floor`` of each window; transactional p99 latency (event produced ->
  request at the sandbox) stays within 2x of the same stream without the backlog.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from bench.budget import paced_stream, percentile, trigger_latencies
from tests.reliability.conftest import Procs
from tests.reliability.scaled_budget import (
    RESERVE,
    TRIGGER,
    budget_config,
    first_window_end,
    let_windows_run,
    produce_backlog,
    scaled_sandbox,
    start_replicas,
    wait_settled,
)
from tests.support.faults import log_tail, make_events, produce_events, wait_for, write_results
from tests.support.kafka import create_topics, unique
from tests.support.procs import Sandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]


def test_four_replicas_spend_each_window_evenly(kafka_bootstrap: str, procs: Procs) -> None:
    limit, window, partitions, measured = 400, 20, 8, 2
    topic, dlq, group = unique("even"), unique("even-dlq"), unique("even-grp")
    create_topics(kafka_bootstrap, {topic: partitions, dlq: 1})
    sandbox = scaled_sandbox(procs, limit, window)
    cfg = budget_config(kafka_bootstrap, sandbox, group=group, topic=topic, dlq=dlq)
    bridges = start_replicas(procs, cfg, 4, partitions)
    # warm-up window + measured windows + one spare
    produce_backlog(kafka_bootstrap, topic, partitions, limit, measured + 2)
    w1 = first_window_end(sandbox)
    end = w1 + measured * window
    let_windows_run(end + 0.5)
    rcs = [b.stop(30) for b in bridges]
    reqs = sandbox.requests(TRIGGER)
    usable = limit * (1 - RESERVE)
    used: dict[int, list[int]] = {k: [0] * 10 for k in range(measured)}
    late_429 = 0
    for r in reqs:
        t = float(r["time"])
        if not w1 <= t < end:
            continue
        k, tenth = divmod(int((t - w1) / window * 10), 10)
        if r["status"] == 429:
            late_429 += 1
        else:
            used[k][tenth] += 1
    write_results(
        "budget-even-4-replicas",
        {"limit": limit, "window_s": window, "usable": usable, "per_tenth": used, "429": late_429},
    )
    assert all(rc == 0 for rc in rcs), [log_tail(b, 1500) for b in bridges]
    assert late_429 == 0, f"{late_429} answers of 429 after the warm-up window"
    for k, tenths in used.items():
        assert sum(tenths) >= 0.95 * usable, f"window {k}: {sum(tenths)} of {usable:g}: {tenths}"
        even = sum(tenths) / 10
        off = [round(x / even - 1, 3) for x in tenths]
        # ~36 requests a tenth: a request landing a few milliseconds either side of a boundary
        # moves a tenth by ±3 % and the run-to-run spread is ±sqrt(n), so ±15 % is one sigma
        # here (it failed one fresh-clone CI run with [35, 37, 34, 38, 32, 33, 42, 36, 36, 36]).
        # The bound grows with that noise: 0.15 + 1.5/sqrt(n) = ±40 % at n = 36, still far below
        # what replicas that each pace remaining/time_left do (old code: first tenth +244 %). The
        # ±15 % figure is met by the benchmark (bench.budget, ~90 a tenth: worst 1-4 %).
        tol = 0.15 + 1.5 / even**0.5
        assert max(abs(x) for x in off) <= tol, f"window {k}: per tenth {tenths}, off {off}"
        assert max(tenths[:2]) <= even * (1 + tol), f"window {k} front-loaded: {tenths}"


def _latencies(sandbox: Sandbox, ids: set[str]) -> dict[str, float]:
    return trigger_latencies(sandbox.requests(TRIGGER), "c-tx", ids)


def test_bulk_backlog_leaves_transactional_latency_alone(
    kafka_bootstrap: str, procs: Procs
) -> None:
    limit, window, floor = 300, 10, 0.3
    bulk, tx, dlq, group = unique("bulk"), unique("tx"), unique("prio-dlq"), unique("prio-grp")
    create_topics(kafka_bootstrap, {bulk: 4, tx: 1, dlq: 1})
    sandbox = scaled_sandbox(procs, limit, window)
    rule = {
        "when": {"type": "order.shipped"},
        "action": "campaign_trigger",
        "recipient": {"external_user_id": "$.user.id"},
    }
    cfg = budget_config(
        kafka_bootstrap,
        sandbox,
        group=group,
        topic=bulk,
        dlq=dlq,
        delivery={"bulk_floor": floor},
        kafka={"max_events_in_flight": 100_000},
    )
    cfg["rules"] = [
        {
            **rule,
            "name": "digest",
            "topic": bulk,
            "campaign_id": "c-bulk",
            "trigger_properties": {"eid": "$.id"},
            "priority": "bulk",
        },
        {
            **rule,
            "name": "shipped",
            "topic": tx,
            "campaign_id": "c-tx",
            "trigger_properties": {"eid": "$.id", "ts": "$.ts"},
        },
    ]
    b = procs.bridge(cfg, "prio")
    wait_settled([b], 5)
    quiet_ids = paced_stream(kafka_bootstrap, tx, "q", 5.0, 12.0, "order.shipped")
    quiet = wait_for(
        "the quiet stream's deliveries",
        lambda: (lat := _latencies(sandbox, quiet_ids)) and len(lat) == len(quiet_ids) and lat,
        30,
        0.5,
    )
    # a bulk backlog that outlasts the measured windows: 40,000 events = 800 requests
    produce_events(kafka_bootstrap, bulk, make_events(40_000, prefix="b"), 4)
    wait_for(
        "the backlog to be consumed",
        lambda: b.metric("bridge_events_consumed_total") >= 40_000 + len(quiet_ids),
        60,
        0.5,
    )
    t0 = time.time()
    busy_ids = paced_stream(kafka_bootstrap, tx, "b", 5.0, 2 * window, "order.shipped")
    busy = wait_for(
        "the busy stream's deliveries",
        lambda: (lat := _latencies(sandbox, busy_ids)) and len(lat) == len(busy_ids) and lat,
        30,
        0.5,
    )
    t1 = time.time()
    rc = b.stop(30)
    per_window: Counter[tuple[int, str]] = Counter()
    n429 = 0
    for r in sandbox.requests(TRIGGER):
        if not t0 <= float(r["time"]) < t1:
            continue
        if r["status"] == 429:
            n429 += 1
            continue
        campaign = r["body"].get("campaign_id") if isinstance(r.get("body"), dict) else ""
        per_window[(int(float(r["time"])) // window, str(campaign))] += 1
    full = sorted({w for w, _ in per_window})[1:-1]  # windows seen whole
    bulk_used = [per_window[(w, "c-bulk")] for w in full]
    p99_quiet, p99_busy = (
        percentile(list(quiet.values()), 0.99),
        percentile(list(busy.values()), 0.99),
    )
    write_results(
        "budget-priorities",
        {
            "limit": limit,
            "window_s": window,
            "bulk_floor": floor,
            "tx_p99_quiet_s": round(p99_quiet, 4),
            "tx_p99_busy_s": round(p99_busy, 4),
            "bulk_requests_per_full_window": bulk_used,
            "tx_requests_per_full_window": [per_window[(w, "c-tx")] for w in full],
            "tx_p50_quiet_s": round(sorted(quiet.values())[len(quiet) // 2], 4),
            "tx_p50_busy_s": round(sorted(busy.values())[len(busy) // 2], 4),
            "429": n429,
        },
    )
    assert rc == 0, log_tail(b)
    assert n429 == 0
    assert full and all(u <= limit * (1 - floor) + 16 for u in bulk_used), bulk_used
    tx_used = [per_window[(w, "c-tx")] for w in full]
    assert all(
        bu + tu >= 0.9 * limit * (1 - floor) for bu, tu in zip(bulk_used, tx_used, strict=True)
    ), f"the budget above the floor was not used: bulk {bulk_used}, transactional {tx_used}"
    assert p99_busy <= 2 * p99_quiet, (
        f"transactional p99 {p99_busy:.3f}s with a bulk backlog, {p99_quiet:.3f}s without"
    )
