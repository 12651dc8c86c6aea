"""kill -9 the bridge three times during a long run: nothing is lost, duplicates are bounded.

A killed bridge cannot drain: events Braze accepted but whose offsets were not committed yet
are read again by the next process and sent again. The bridge commits every
``kafka.commit_interval_ms`` up to the first event that is not final, so at a kill the
uncommitted-but-accepted events are those accepted in roughly the last commit interval (plus
request latency and loop time), plus those whose partition watermark waited for a slower
request in flight. This test measures that set at every kill, straight from Kafka (committed
offsets after the kill) and the sandbox (what was accepted before it), and checks:

* at every kill, every event below a committed offset had been accepted (the commit never
  runs ahead of Braze);
* duplicates <= sum over kills of the accepted-but-uncommitted events (every duplicate is a
  re-read of an uncommitted event, never of a committed one);
* each of those sets <= recipients of requests that arrived within ``W`` seconds before the
  kill + ``max_in_flight`` x 50, with ``W = commit_interval + max latency + slack``;
* after the last restart, every event's recipient was accepted at least once.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.reliability.conftest import Procs
from tests.support.faults import (
    Send,
    accepted_counts,
    bridge_config,
    log_tail,
    make_events,
    produce_events,
    sandbox_accepted,
    sends,
    tally,
    wait_for,
    with_new_port,
    write_results,
)
from tests.support.kafka import committed, create_topics, unique, wait_committed

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

N_EVENTS = 16_000
PARTITIONS = 4
KILL_AT = (0.25, 0.5, 0.75)  # share of the events accepted when the bridge is killed
LATENCY_MS = (20, 60)
MAX_IN_FLIGHT = 4
COMMIT_INTERVAL_MS = 100
# Loop time between an outcome arriving and the commit reaching the broker on a busy 2-core
# box (consume batch of 500, decoding, the async commit round trip).
SLACK_S = 0.3


def test_kill9_three_times_loses_nothing(kafka_bootstrap: str, procs: Procs) -> None:
    topic, dlq, group = unique("k9"), unique("k9-dlq"), unique("k9-grp")
    create_topics(kafka_bootstrap, {topic: PARTITIONS, dlq: 1})
    sandbox = procs.sandbox(
        "--faults", f'{{"latency_ms": {{"min": {LATENCY_MS[0]}, "max": {LATENCY_MS[1]}}}}}'
    )
    wl = produce_events(kafka_bootstrap, topic, make_events(N_EVENTS), PARTITIONS)
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox,
        group=group,
        topic=topic,
        dlq=dlq,
        braze={"max_in_flight": MAX_IN_FLIGHT},
        kafka={"commit_interval_ms": COMMIT_INTERVAL_MS},
    )
    window_s = COMMIT_INTERVAL_MS / 1000 + LATENCY_MS[1] / 1000 + SLACK_S
    parts = wl.by_partition()
    kills: list[dict[str, Any]] = []
    restarts: list[float] = []
    t0 = time.monotonic()
    bridge = procs.bridge(cfg, "run0")
    for k, share in enumerate(KILL_AT):
        target = int(share * N_EVENTS)
        wait_for(
            f"{target} accepted recipients before kill {k + 1}",
            lambda target=target: sandbox_accepted(sandbox) >= target,  # type: ignore[misc]
            timeout=90,
            interval=0.05,
        )
        t_kill = time.time()
        bridge.kill()
        bridge.wait(10)
        before: list[Send] = sends(sandbox)
        got = accepted_counts(before)
        offsets = committed(kafka_bootstrap, group, topic)
        # the commit never ran ahead of Braze: everything below the offset was accepted
        behind = [
            e.eid
            for p, evs in parts.items()
            for e in evs
            if e.offset < offsets.get(p, -1) and e.eid not in got
        ]
        assert not behind, f"kill {k + 1}: committed past unaccepted events {behind[:5]}"
        uncommitted = {
            e.eid
            for p, evs in parts.items()
            for e in evs
            if e.eid in got and e.offset >= max(offsets.get(p, 0), 0)
        }
        recent = sum(len(s.eids) for s in before if s.accepted and s.time >= t_kill - window_s)
        bound = recent + MAX_IN_FLIGHT * 50
        kills.append(
            {
                "at_share": share,
                "accepted_before_kill": sum(got.values()),
                "committed": sum(max(v, 0) for v in offsets.values()),
                "accepted_uncommitted": len(uncommitted),
                "accepted_in_last_window": recent,
                "window_s": round(window_s, 3),
                "bound": bound,
            }
        )
        assert len(uncommitted) <= bound, (kills[-1], log_tail(bridge))
        restarts.append(time.time())
        bridge = procs.bridge(with_new_port(cfg), f"run{k + 1}")
    assert wait_committed(kafka_bootstrap, group, [topic], 120), log_tail(bridge)
    elapsed = time.monotonic() - t0
    rc = bridge.stop(30)
    records = sends(sandbox)
    got = accepted_counts(records)
    t = tally(wl, got)
    requeued = sum(kill["accepted_uncommitted"] for kill in kills)
    for kill, at in zip(kills, restarts, strict=True):
        first = min((s.time for s in records if s.accepted and s.time > at), default=None)
        kill["delivering_again_after_s"] = round(first - at, 2) if first else None
    write_results(
        "kill9",
        {
            "events": N_EVENTS,
            **t.as_dict(),
            "dead_lettered": 0,
            "rate_limited_429": int(sandbox.stats()["rate_limited_total"]),
            "duplicate_bound_sum": requeued,
            "kills": kills,
            "commit_interval_ms": COMMIT_INTERVAL_MS,
            "max_in_flight": MAX_IN_FLIGHT,
            "latency_ms": list(LATENCY_MS),
            "elapsed_s": round(elapsed, 1),
        },
    )
    assert rc == 0, log_tail(bridge)
    assert t.lost == 0, f"lost {t.lost} events, e.g. {t.lost_sample}"
    assert t.unexpected == 0
    # every duplicate is a re-read of an event accepted but not committed at a kill
    assert t.duplicates <= requeued, (t.duplicates, kills)
