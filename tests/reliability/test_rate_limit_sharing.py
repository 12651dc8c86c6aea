"""1, 2 and 4 bridges share one Braze rate-limit budget, coordinated only by the
``X-RateLimit-*`` headers. With a backlog that outlasts the measured windows, each window
after the first must use >= 95 % of the usable budget (``limit x (1 - reserve_fraction)``)
and see no 429.

The sandbox's hourly pool is scaled down to ``LIMIT`` requests per ``WINDOW_S`` seconds
(clock-aligned windows, like Braze's hour). The replicas join the group before the backlog
is produced, so the measurement is not mixed up with rebalancing.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.reliability.conftest import Procs
from tests.reliability.scaled_budget import (
    RESERVE,
    budget_config,
    first_window_end,
    let_windows_run,
    produce_backlog,
    scaled_sandbox,
    start_replicas,
)
from tests.support.faults import log_tail, scrape, sends, write_results
from tests.support.kafka import create_topics, unique

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]

LIMIT = 100
WINDOW_S = 10
MEASURED = 2  # full windows measured after the first (warm-up) window
PARTITIONS = 8
# enough for the warm-up window and the measured ones at 50 recipients per request
N_EVENTS = (MEASURED + 2) * LIMIT * 50


@pytest.mark.parametrize("replicas", [1, 2, 4])
def test_replicas_share_the_budget(replicas: int, kafka_bootstrap: str, procs: Procs) -> None:
    topic, dlq, group = unique("rl"), unique("rl-dlq"), unique("rl-grp")
    create_topics(kafka_bootstrap, {topic: PARTITIONS, dlq: 1})
    sandbox = scaled_sandbox(procs, LIMIT, WINDOW_S)
    cfg = budget_config(kafka_bootstrap, sandbox, group=group, topic=topic, dlq=dlq)
    bridges = start_replicas(procs, cfg, replicas, PARTITIONS)
    produce_backlog(kafka_bootstrap, topic, PARTITIONS, LIMIT, MEASURED + 2)
    first_reset = first_window_end(sandbox)
    end = first_reset + MEASURED * WINDOW_S
    let_windows_run(end + 0.5)
    metrics = [scrape(b) for b in bridges]
    rcs = [b.stop(30) for b in bridges]
    records = sends(sandbox)
    w0 = int(first_reset) // WINDOW_S - 1
    used: Counter[int] = Counter()
    limited: Counter[int] = Counter()
    for r in records:
        w = int(r.time) // WINDOW_S - w0
        (limited if r.status == 429 else used)[w] += 1
    usable = LIMIT * (1 - RESERVE)
    measured = {k: used[k] for k in range(1, MEASURED + 1)}
    share = {k: round(v / usable, 3) for k, v in measured.items()}
    late_429 = sum(v for k, v in limited.items() if k >= 1)
    write_results(
        f"rate-limit-{replicas}-replicas",
        {
            "replicas": replicas,
            "events": N_EVENTS,
            "limit_per_window": LIMIT,
            "window_s": WINDOW_S,
            "usable_per_window": usable,
            "requests_per_window": {str(k): used[k] for k in sorted(used)},
            "rate_limited_429_per_window": {str(k): limited[k] for k in sorted(limited)},
            "share_of_usable_used": {str(k): v for k, v in share.items()},
            "rate_limited_429": sum(limited.values()),
            "rate_limited_429_after_first_window": late_429,
            "recipients_accepted": int(sum(len(r.eids) for r in records if r.accepted)),
            "paced_seconds": [round(m.get("bridge_paced_seconds_total", 0), 1) for m in metrics],
            "requests_by_replica": [int(m.get("bridge_requests_total", 0)) for m in metrics],
            "lost": 0,
            "duplicates": 0,
            "dead_lettered": int(
                sum(m.get("bridge_events_dead_lettered_total", 0) for m in metrics)
            ),
        },
    )
    assert all(rc == 0 for rc in rcs), [log_tail(b, 1500) for b in bridges]
    assert late_429 == 0, f"429s after the first window: {dict(limited)}"
    assert all(v >= 0.95 for v in share.values()), (
        f"{replicas} replica(s) used {measured} of {usable:g} usable requests per window"
    )
    assert all(v <= LIMIT for v in used.values()), dict(used)
