"""Braze answers 401 for a while (a rotated or revoked key): the bridge halts instead of
dead-lettering, says so on /readyz and in ``bridge_halted{reason="auth"}``, probes, and
resumes by itself once the key works again. Nothing is dead-lettered or lost.
"""

from __future__ import annotations

import json
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
    write_results,
)
from tests.support.kafka import create_topics, read_all, unique, wait_committed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PARTITIONS = 4
PHASE1 = 2_000
PHASE2 = 3_000
UNAUTHORIZED_S = 5.0
PROBE_S = 0.5


def test_401_window_halts_then_resumes(kafka_bootstrap: str, procs: Procs) -> None:
    topic, dlq, group = unique("auth"), unique("auth-dlq"), unique("auth-grp")
    create_topics(kafka_bootstrap, {topic: PARTITIONS, dlq: 1})
    sandbox = procs.sandbox()
    wl = produce_events(kafka_bootstrap, topic, make_events(PHASE1), PARTITIONS)
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox,
        group=group,
        topic=topic,
        dlq=dlq,
        delivery={"halt_probe_interval_s": PROBE_S},
    )
    bridge = procs.bridge(cfg, "bridge")
    assert wait_committed(kafka_bootstrap, group, [topic], 60), log_tail(bridge)
    assert readyz(bridge)[0] == 200
    # the key stops working; new events arrive meanwhile
    sandbox.faults({"unauthorized_for_s": UNAUTHORIZED_S})
    t_fault = time.time()
    produce_events(kafka_bootstrap, topic, make_events(PHASE2, prefix="late"), PARTITIONS, wl)
    samples = []
    while time.time() < t_fault + UNAUTHORIZED_S + 10:
        status, body = readyz(bridge)
        m = scrape(bridge)
        samples.append(
            (time.time() - t_fault, status, m.get("bridge_halted{reason=auth}"), body.get("halted"))
        )
        if time.time() > t_fault + UNAUTHORIZED_S and status == 200:
            break
        time.sleep(0.1)  # a sample every 0.1 s through the fault window (the test's timeline)
    halted = [s for s in samples if s[1] == 503 and s[2] == 1.0 and "auth" in (s[3] or [])]
    ready_again = next((s[0] for s in samples if s[0] > UNAUTHORIZED_S and s[1] == 200), None)
    assert wait_committed(kafka_bootstrap, group, [topic], 60), log_tail(bridge)
    m = scrape(bridge)
    rc = bridge.stop(30)
    records = sends(sandbox)
    t = tally(wl, accepted_counts(records))
    n401 = sum(1 for s in records if s.status == 401)
    first_after = min(
        (s.time - t_fault for s in records if s.accepted and s.time > t_fault), default=None
    )
    dl = read_all(kafka_bootstrap, dlq, timeout=5)
    write_results(
        "auth-401",
        {
            "events": len(wl),
            **t.as_dict(),
            "dead_lettered": int(m.get("bridge_events_dead_lettered_total", 0)),
            "dead_letter_topic_records": len(dl),
            "rate_limited_429": int(sandbox.stats()["rate_limited_total"]),
            "unauthorized_s": UNAUTHORIZED_S,
            "probe_interval_s": PROBE_S,
            "answers_401": n401,
            "halted_samples": len(halted),
            "first_halted_at_s": round(halted[0][0], 2) if halted else None,
            "ready_again_at_s": round(ready_again, 2) if ready_again else None,
            "first_accept_after_fault_s": round(first_after, 2) if first_after else None,
            "accepted_after_phase1": sandbox_accepted(sandbox),
        },
    )
    assert halted, "never saw /readyz 503 with bridge_halted{reason=auth} == 1: " + json.dumps(
        samples[:20]
    )
    assert ready_again is not None, "not ready again after the 401 window: " + json.dumps(
        samples[-5:]
    )
    assert m.get("bridge_halted{reason=auth}") == 0.0
    assert n401 > 0
    # resumed within a few probe intervals of the window's end (backoff included)
    assert first_after is not None and first_after < UNAUTHORIZED_S + 5, first_after
    assert int(m.get("bridge_events_dead_lettered_total", 0)) == 0
    assert dl == []
    assert t.lost == 0, f"lost {t.lost} events, e.g. {t.lost_sample}"
    assert rc == 0, log_tail(bridge)
