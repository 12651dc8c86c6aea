"""A mix of Braze faults: 10 % 5xx, hung requests longer than the bridge's request timeout,
a 429 window and 1 % poison recipients (the sandbox rejects the whole request with 400 and
does not say which recipient).

What a user must see:

* every event is either delivered or dead-lettered, and exactly the poison ones are
  dead-lettered (stage ``deliver``, ``http.status`` 400: bisecting isolated them);
* the counters add up: consumed = delivered + dead-lettered + skipped (each event matches
  at most one rule, so each accounts for one of the three);
* the bridge keeps going through the 429 window and ends with exit 0.

Hung requests were processed by the sandbox before the bridge gave up on them, so their
retries are duplicates: the figure is reported, not asserted to be zero.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from tests.reliability.conftest import Procs
from tests.support.faults import (
    accepted_counts,
    bridge_config,
    log_tail,
    make_events,
    produce_events,
    sandbox_accepted,
    scrape,
    sends,
    tally,
    wait_for,
    write_results,
)
from tests.support.kafka import create_topics, read_all, unique, wait_committed

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

N_EVENTS = 6_000
PARTITIONS = 4
FAULTS = {
    "seed": 11,
    "error_rate": 0.10,
    "hang_rate": 0.02,
    "hang_s": 3,  # > braze.request_timeout_s
    "latency_ms": {"min": 5, "max": 30},
    "poison_prefixes": ["poison-"],
}
RATE_LIMIT_FOR_S = 2
# A 429 closes the pacer's pool until the window's reset (X-RateLimit-Reset), as at Braze;
# a short window keeps that wait short.
WINDOW_S = 5


def test_faults_mix(kafka_bootstrap: str, procs: Procs) -> None:
    topic, dlq, group = unique("mix"), unique("mix-dlq"), unique("mix-grp")
    create_topics(kafka_bootstrap, {topic: PARTITIONS, dlq: 2})
    sandbox = procs.sandbox("--hourly-window-s", str(WINDOW_S), "--faults", json.dumps(FAULTS))
    events = make_events(N_EVENTS, poison_share=0.01, skip_share=0.05, users=800, seed=5)
    wl = produce_events(kafka_bootstrap, topic, events, PARTITIONS)
    poison, skipped = wl.ids("poison"), wl.ids("skip")
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox,
        group=group,
        topic=topic,
        dlq=dlq,
        braze={"max_in_flight": 8, "request_timeout_s": 1, "connect_timeout_s": 1},
        delivery={"retry": {"initial_backoff_ms": 20, "max_backoff_ms": 300}},
    )
    t0 = time.monotonic()
    bridge = procs.bridge(cfg, "bridge")
    wait_for(
        "a third of the events accepted",
        lambda: sandbox_accepted(sandbox) >= N_EVENTS // 3,
        timeout=60,
        interval=0.05,
    )
    sandbox.faults({**FAULTS, "rate_limit_for_s": RATE_LIMIT_FOR_S})
    ok = wait_committed(kafka_bootstrap, group, [topic], 120)
    elapsed = time.monotonic() - t0
    m = scrape(bridge)
    rc = bridge.stop(30)
    records = sends(sandbox)
    stats = sandbox.stats()
    t = tally(wl, accepted_counts(records))
    dl = read_all(kafka_bootstrap, dlq)
    consumed = int(m.get("bridge_events_consumed_total", -1))
    sent = int(m.get("bridge_recipients_sent_total", -1))
    dead = int(m.get("bridge_events_dead_lettered_total", -1))
    skip = int(m.get("bridge_events_skipped_total", -1))
    dl_eids = Counter(json.loads(msg.value())["id"] for msg in dl)
    faults = Counter(s.fault for s in records if s.fault)
    write_results(
        "faults-mix",
        {
            "events": len(wl),
            **t.as_dict(),
            "dead_lettered": dead,
            "poison_events": len(poison),
            "skipped": skip,
            "consumed": consumed,
            "recipients_sent": sent,
            "rate_limited_429": int(stats["rate_limited_total"]),
            "bridge_rate_limited": int(m.get("bridge_rate_limited_total", 0)),
            "retries": int(m.get("bridge_retries_total", 0)),
            "injected": dict(faults),
            "requests": len(records),
            "elapsed_s": round(elapsed, 1),
        },
    )
    assert ok, "not everything was committed\n" + log_tail(bridge)
    assert rc == 0, log_tail(bridge)
    assert t.lost == 0, f"lost {t.lost} events, e.g. {t.lost_sample}"
    assert t.unexpected == 0, "a poison recipient was accepted"
    # the run really went through each fault
    assert faults["error"] > 0 and faults["hang"] > 0 and faults["rate_limited"] > 0
    assert faults["poison"] > 0
    # exactly the poison events were dead-lettered, once each, at the deliver stage
    assert set(dl_eids) == poison, (
        f"dead-lettered but not poison: {sorted(set(dl_eids) - poison)[:5]}; "
        f"poison not dead-lettered: {sorted(poison - set(dl_eids))[:5]}"
    )
    assert all(c == 1 for c in dl_eids.values()), dl_eids.most_common(3)
    for msg in dl:
        h = dict(msg.headers())
        assert h["__bridge.errors.stage"] == b"deliver"
        assert h["__bridge.errors.http.status"] == b"400"
        assert h["__bridge.errors.rule"] == b"shipped"
    # the counters add up exactly
    assert consumed == len(wl)
    assert skip == len(skipped)
    assert dead == len(poison)
    assert sent == len(wl.expected)
    assert consumed == sent + dead + skip
