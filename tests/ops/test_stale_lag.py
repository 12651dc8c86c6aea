"""After a rebalance a pod stops exporting lag for the partitions it lost (audit row 5: pod A
kept reporting the frozen lag of partition 0 after B took it over). Real broker, two bridges."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults import (
    bridge_config,
    make_events,
    produce_events,
    readyz,
    sandbox_accepted,
    wait_for,
    with_new_port,
)
from tests.support.kafka import create_topics, unique
from tests.support.procs import Bridge, Sandbox, scrape_metrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def lag_partitions(bridge: Bridge) -> set[str]:
    return {
        labels["partition"]
        for name, labels, _ in scrape_metrics(bridge.metrics())
        if name == "bridge_consumer_lag"
    }


def test_revoked_partitions_lag_series_disappear(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic, dlq, group = unique("sl"), unique("sl-dlq"), unique("sl-grp")
    create_topics(kafka_bootstrap, {topic: 2, dlq: 1})
    sandbox = Sandbox()
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox,
        group=group,
        topic=topic,
        dlq=dlq,
        kafka={"properties": {"statistics.interval.ms": 1000}},
    )
    a = Bridge(tmp_path, cfg, name="a").start()
    wl = produce_events(kafka_bootstrap, topic, make_events(60), 2)
    wait_for("A delivered", lambda: sandbox_accepted(sandbox) >= len(wl.expected) or None, 90)
    wait_for("A exports lag for both partitions", lambda: lag_partitions(a) == {"0", "1"}, 60)

    b = Bridge(tmp_path, with_new_port(cfg), name="b").start()
    wait_for(
        "the group splits the partitions",
        lambda: [readyz(x)[1].get("partitions") for x in (a, b)] == [1, 1] or None,
        timeout=90,
    )
    wait_for("B exports lag for its partition", lambda: len(lag_partitions(b)) == 1 or None, 30)
    kept = lag_partitions(b)
    # A drops the series of the partition it gave up; it keeps only its own one.
    wait_for("A forgets the revoked partition", lambda: lag_partitions(a) == {"0", "1"} - kept, 30)
    assert b.stop() == 0 and a.stop() == 0
    sandbox.stop()
