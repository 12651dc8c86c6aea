"""A second bridge joins the consumer group mid-run and later leaves (SIGTERM): partitions move
twice while requests are in flight. Nothing is lost; duplicates are reported (a revoked
partition's work is finished and committed before it is given up, so 0 is expected).
"""

from __future__ import annotations

import time

import pytest

from tests.reliability.conftest import Procs
from tests.support.faults import (
    accepted_counts,
    bridge_config,
    log_tail,
    make_events,
    produce_events,
    readyz,
    sandbox_accepted,
    scrape,
    sends,
    tally,
    wait_for,
    with_new_port,
    write_results,
)
from tests.support.kafka import create_topics, unique, wait_committed

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

N_EVENTS = 20_000
PARTITIONS = 6


def test_member_joins_and_leaves_mid_run(kafka_bootstrap: str, procs: Procs) -> None:
    topic, dlq, group = unique("rb"), unique("rb-dlq"), unique("rb-grp")
    create_topics(kafka_bootstrap, {topic: PARTITIONS, dlq: 1})
    sandbox = procs.sandbox("--faults", '{"latency_ms": {"min": 60, "max": 120}}')
    wl = produce_events(kafka_bootstrap, topic, make_events(N_EVENTS), PARTITIONS)
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox,
        group=group,
        topic=topic,
        dlq=dlq,
        braze={"max_in_flight": 2},
        # hold few events so moved partitions still have unread events to hand over
        kafka={"max_events_in_flight": 1000, "consume_batch": 200},
    )
    t0 = time.monotonic()
    a = procs.bridge(cfg, "a")
    wait_for(
        "10 % accepted by the first bridge",
        lambda: sandbox_accepted(sandbox) >= N_EVENTS // 10,
        timeout=60,
        interval=0.05,
    )
    joined_at = sandbox_accepted(sandbox)
    b = procs.bridge(with_new_port(cfg), "b")
    wait_for(
        "the second bridge to get partitions",
        lambda: readyz(b)[1].get("partitions", 0) > 0,
        timeout=60,
    )
    partitions_b = readyz(b)[1]["partitions"]
    wait_for(
        "the second bridge to deliver 2000 recipients",
        lambda: scrape(b).get("bridge_recipients_sent_total", 0) >= 2000,
        timeout=60,
        interval=0.1,
    )
    sent_b = int(scrape(b).get("bridge_recipients_sent_total", 0))
    left_at = sandbox_accepted(sandbox)
    b.terminate()
    rc_b = b.wait(40)
    assert left_at < N_EVENTS, "the backlog ran out before the second bridge left"
    ok = wait_committed(kafka_bootstrap, group, [topic], 120)
    elapsed = time.monotonic() - t0
    m = scrape(a)
    rc_a = a.stop(40)
    t = tally(wl, accepted_counts(sends(sandbox)))
    write_results(
        "rebalance",
        {
            "events": N_EVENTS,
            **t.as_dict(),
            "dead_lettered": int(m.get("bridge_events_dead_lettered_total", 0)),
            "rate_limited_429": int(sandbox.stats()["rate_limited_total"]),
            "accepted_when_b_joined": joined_at,
            "accepted_when_b_left": left_at,
            "partitions_of_b": partitions_b,
            "recipients_sent_by_b": sent_b,
            "rebalances_a": {
                k: int(m.get(f"bridge_kafka_rebalances_total{{kind={k}}}", 0))
                for k in ("assign", "revoke", "lost")
            },
            "elapsed_s": round(elapsed, 1),
        },
    )
    assert rc_b == 0, log_tail(b)
    assert ok, "not everything was committed\n" + log_tail(a)
    assert rc_a == 0, log_tail(a)
    assert t.lost == 0, f"lost {t.lost} events, e.g. {t.lost_sample}"
    assert t.duplicates == 0, f"{t.duplicates} duplicates across two graceful rebalances"
