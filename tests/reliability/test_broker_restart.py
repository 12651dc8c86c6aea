"""Restart the Kafka broker in the middle of a run: the bridge rides it out, loses nothing,
commits everything once the broker is back, and still stops cleanly (exit 0 on SIGTERM).

Two shapes of the outage:

* ``more-after``: the bridge holds few events (back-pressure), so it must fetch again after
  the restart, and new events are produced once the broker is back;
* ``finish-while-down``: the bridge already holds the whole backlog and finishes delivering
  it while the broker is away, so its last offsets can only be committed after the restart
  (no later event comes along to carry them).

This needs the broker the test session started (``scripts/local-kafka``): an external
cluster given by ``KAFKA_BOOTSTRAP`` cannot be restarted from here. In CI the harness broker
is used, and a skip fails the run (see tests/conftest.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import ModuleType

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
from tests.support.kafka import committed, create_topics, end_offsets, unique, wait_committed

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

PARTITIONS = 4


@pytest.mark.parametrize("shape", ["more-after", "finish-while-down"])
def test_broker_restart_mid_run(
    shape: str,
    kafka_bootstrap: str,
    kafka_harness: ModuleType,
    kafka_state_dir: Path,
    procs: Procs,
) -> None:
    if os.environ.get("KAFKA_BOOTSTRAP"):
        pytest.skip(
            "KAFKA_BOOTSTRAP points at an external cluster, which this test cannot restart; "
            "unset it to run against the harness broker (scripts/local-kafka)"
        )
    more_after = shape == "more-after"
    phase1 = 10_000 if more_after else 6_000
    topic, dlq, group = unique("br"), unique("br-dlq"), unique("br-grp")
    create_topics(kafka_bootstrap, {topic: PARTITIONS, dlq: 1})
    sandbox = procs.sandbox("--faults", '{"latency_ms": {"min": 40, "max": 80}}')
    wl = produce_events(kafka_bootstrap, topic, make_events(phase1), PARTITIONS)
    kafka = {"max_events_in_flight": 500, "consume_batch": 200} if more_after else {}
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox,
        group=group,
        topic=topic,
        dlq=dlq,
        short_session=False,  # the bridge's default (45 s) outlasts the restart
        braze={"max_in_flight": 2},
        kafka=kafka,
    )
    t0 = time.monotonic()
    bridge = procs.bridge(cfg, "bridge")
    wait_for(
        "a quarter of the backlog accepted",
        lambda: sandbox_accepted(sandbox) >= phase1 // 4,
        timeout=60,
        interval=0.05,
    )
    t_stop = time.monotonic()
    accepted_at_stop = sandbox_accepted(sandbox)
    try:
        kafka_harness.stop(kafka_state_dir)
        down_s = time.monotonic() - t_stop
        if more_after:
            # the behaviour under test: a 3 s outage with requests in flight, which finish
            # while the broker is away
            time.sleep(3)
        else:
            wait_for(
                "the whole backlog accepted while the broker is down",
                lambda: sandbox_accepted(sandbox) >= phase1,
                timeout=60,
                interval=0.1,
            )
        assert bridge.proc is not None and bridge.proc.poll() is None, log_tail(bridge)
        accepted_while_down = sandbox_accepted(sandbox) - accepted_at_stop
    finally:
        t_start = time.monotonic()
        kafka_harness.start(kafka_state_dir)
    outage_s = time.monotonic() - t_stop
    start_s = time.monotonic() - t_start
    if more_after:
        produce_events(kafka_bootstrap, topic, make_events(2_000, prefix="late"), PARTITIONS, wl)
    ok = wait_committed(kafka_bootstrap, group, [topic], 60 if more_after else 30)
    elapsed = time.monotonic() - t0
    behind = {
        p: end - committed(kafka_bootstrap, group, topic).get(p, -1)
        for p, end in end_offsets(kafka_bootstrap, topic).items()
    }
    m = scrape(bridge)
    assert bridge.proc is not None and bridge.proc.poll() is None, log_tail(bridge)
    rc = bridge.stop(40)
    # what a restarted bridge would read again: the shutdown commit should close any gap
    behind_after_stop = {
        p: end - committed(kafka_bootstrap, group, topic).get(p, -1)
        for p, end in end_offsets(kafka_bootstrap, topic).items()
    }
    t = tally(wl, accepted_counts(sends(sandbox)))
    write_results(
        f"broker-restart-{shape}",
        {
            "events": len(wl),
            **t.as_dict(),
            "dead_lettered": int(m.get("bridge_events_dead_lettered_total", 0)),
            "rate_limited_429": int(sandbox.stats()["rate_limited_total"]),
            "broker_stop_s": round(down_s, 1),
            "broker_start_s": round(start_s, 1),
            "outage_s": round(outage_s, 1),
            "accepted_while_broker_down": accepted_while_down,
            "commits_ok": int(m.get("bridge_offset_commits_total{result=ok}", 0)),
            "commits_failed": int(m.get("bridge_offset_commits_total{result=failed}", 0)),
            "all_committed": ok,
            "uncommitted_per_partition": behind,
            "uncommitted_after_sigterm": behind_after_stop,
            "exit_code": rc,
            "elapsed_s": round(elapsed, 1),
        },
    )
    assert ok, f"committed offsets stay behind the end offsets by {behind}\n" + log_tail(bridge)
    assert t.lost == 0, f"lost {t.lost} events, e.g. {t.lost_sample}"
    assert rc == 0, log_tail(bridge)
