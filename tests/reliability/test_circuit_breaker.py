"""A rule points at a campaign id Braze does not know (every request: 400 "Invalid Campaign
ID"). Instead of dead-lettering the whole topic, the bridge opens its circuit breaker once
the dead-letter share is too high: fetching pauses, /readyz answers 503 and
``bridge_circuit_breaker_open`` is 1. After ``probe_interval_s`` it lets a little through
(half-open), which trips it again.

Bound: when the breaker opens, the events already consumed are still delivered (and
dead-lettered); the bridge holds at most ``kafka.max_events_in_flight`` (+ one consume batch
fetched before back-pressure applies), so no more than ``max_events_in_flight + 2 x
consume_batch`` events are dead-lettered per open/half-open cycle.
"""

from __future__ import annotations

import time

import pytest

from tests.reliability.conftest import Procs
from tests.support.faults import (
    bridge_config,
    log_tail,
    make_events,
    produce_events,
    readyz,
    scrape,
    wait_for,
    write_results,
)
from tests.support.kafka import committed, create_topics, read_all, unique

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

N_EVENTS = 5_000
PARTITIONS = 2
MAX_EVENTS_IN_FLIGHT = 100
CONSUME_BATCH = 50
PROBE_S = 4.0
BREAKER = {"window_s": 30, "min_events": 20, "max_dead_letter_ratio": 0.5}


def test_circuit_breaker_opens_on_unknown_campaign(kafka_bootstrap: str, procs: Procs) -> None:
    topic, dlq, group = unique("cb"), unique("cb-dlq"), unique("cb-grp")
    create_topics(kafka_bootstrap, {topic: PARTITIONS, dlq: 1})
    sandbox = procs.sandbox("--campaign-id", "c-known")
    produce_events(kafka_bootstrap, topic, make_events(N_EVENTS), PARTITIONS)
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox,
        group=group,
        topic=topic,
        dlq=dlq,
        campaign_id="c-typo",
        kafka={"max_events_in_flight": MAX_EVENTS_IN_FLIGHT, "consume_batch": CONSUME_BATCH},
        delivery={"circuit_breaker": {**BREAKER, "probe_interval_s": PROBE_S}},
    )
    bound = MAX_EVENTS_IN_FLIGHT + 2 * CONSUME_BATCH
    bridge = procs.bridge(cfg, "bridge")
    t0 = time.monotonic()

    def opened() -> dict[str, float] | None:
        m = scrape(bridge)
        return m if m.get("bridge_circuit_breaker_open") == 1.0 else None

    m = wait_for("the circuit breaker to open", opened, timeout=60, interval=0.05)
    open_after_s = time.monotonic() - t0
    dead_at_open = int(m.get("bridge_events_dead_lettered_total", 0))
    status, body = readyz(bridge)
    # while open: fetching stays paused; what was in flight finishes, nothing more follows
    # (the behaviour under test: half a probe interval with the breaker open)
    time.sleep(PROBE_S / 2)
    m_open = scrape(bridge)
    dead_while_open = int(m_open.get("bridge_events_dead_lettered_total", 0))
    still_open = m_open.get("bridge_circuit_breaker_open")
    # half-open after probe_interval_s: a few more go through and it trips again (the
    # behaviour under test: two and a half probe intervals of open/half-open cycles)
    time.sleep(PROBE_S * 2.5)
    m_end = scrape(bridge)
    dead_end = int(m_end.get("bridge_events_dead_lettered_total", 0))
    cycle_s = time.monotonic() - t0
    rc = bridge.stop(30)
    log = bridge.log()
    opens = log.count("circuit breaker open")
    half_opens = log.count("circuit breaker half-open")
    dl = read_all(kafka_bootstrap, dlq, timeout=10)
    stages = {dict(msg.headers()).get("__bridge.errors.message", b"")[:40] for msg in dl}
    done = sum(max(v, 0) for v in committed(kafka_bootstrap, group, topic).values())
    write_results(
        "circuit-breaker",
        {
            "events": N_EVENTS,
            "lost": 0,
            "duplicates": 0,
            "dead_lettered": dead_end,
            "rate_limited_429": int(sandbox.stats()["rate_limited_total"]),
            "opened_after_s": round(open_after_s, 2),
            "dead_lettered_when_opened": dead_at_open,
            "dead_lettered_after_half_probe": dead_while_open,
            "observed_s": round(cycle_s, 1),
            "bound_per_cycle": bound,
            "opens_logged": opens,
            "half_opens_logged": half_opens,
            "committed_events": done,
            "dead_letter_records": len(dl),
        },
    )
    assert rc == 0, log_tail(bridge)
    assert status == 503 and "circuit_breaker" in body.get("halted", []), (status, body)
    assert m.get("bridge_halted{reason=circuit_breaker}") == 1.0
    assert dead_at_open >= BREAKER["min_events"]
    assert dead_while_open <= bound, (dead_while_open, bound)
    assert still_open == 1.0, "the breaker closed before probe_interval_s"
    assert half_opens >= 1 and opens >= 2, "no half-open probe that tripped again"
    # one bound per open/half-open cycle, far from the 5000 events of the topic
    assert dead_end <= bound * (1 + half_opens), (dead_end, half_opens, bound)
    # what was dead-lettered is on the topic, with Braze's reason, and was committed
    assert len(dl) == dead_end
    assert stages == {b"Invalid Campaign ID"}, stages
    assert done == dead_end
