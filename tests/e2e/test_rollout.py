"""A rolling update without a cluster: N+1 bridges on N partitions, every one ready.

The chart's Deployment rolls with ``maxSurge: 1, maxUnavailable: 0``: at the documented
maximum (``replicas == partitions``) the surge pod joins a group whose partitions are all
taken. Kubernetes removes an old pod only once the new one is Ready, so an idle member must
answer ``/readyz`` 200, or the rollout stalls forever (issue 13, audit row 1). After the old
pod leaves, its partition moves on and events still reach Braze.
"""

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
from tests.support.procs import Bridge, Sandbox

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

PARTITIONS = 2


def test_surge_member_on_a_full_group_is_ready_and_the_rollout_completes(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic, dlq, group = unique("roll"), unique("roll-dlq"), unique("roll-grp")
    create_topics(kafka_bootstrap, {topic: PARTITIONS, dlq: 1})
    sandbox = Sandbox()
    cfg = bridge_config(kafka_bootstrap, sandbox, group=group, topic=topic, dlq=dlq)
    old = [Bridge(tmp_path, with_new_port(cfg), name=f"old{i}").start() for i in range(PARTITIONS)]

    def parts(bridges: list[Bridge]) -> list[int]:
        return [int(readyz(b)[1].get("partitions", -1)) for b in bridges]

    wait_for(
        "the old replicas own every partition and are ready",
        lambda: all(readyz(b)[0] == 200 for b in old) and parts(old) == [1] * PARTITIONS,
        timeout=90,
    )

    surge = Bridge(tmp_path, with_new_port(cfg), name="surge").start()
    status, body = wait_for(
        "the surge replica answers /readyz 200",
        lambda: (lambda r: r if r[0] == 200 else None)(readyz(surge)),
        timeout=60,
    )
    # Ready although the group gave it nothing: this is what lets Kubernetes go on.
    assert body["partitions"] == 0 and body["halted"] == []
    assert all(readyz(b)[0] == 200 for b in old)

    # Kubernetes now terminates one old pod; its partition moves to a remaining member.
    assert old[0].stop() == 0
    remaining = [old[1], surge]
    wait_for(
        "the old pod's partition is taken over",
        lambda: parts(remaining) == [1, 1],  # the surge pod is now doing work
        timeout=90,
    )
    assert [readyz(b)[0] for b in remaining] == [200, 200]

    wl = produce_events(kafka_bootstrap, topic, make_events(200), PARTITIONS)
    wait_for(
        "events on both partitions reach Braze after the rollout",
        lambda: sandbox_accepted(sandbox) >= len(wl.expected),
        timeout=90,
    )
    assert {e.partition for e in wl.events.values()} == set(range(PARTITIONS))
    for b in remaining:
        assert b.stop() == 0
    sandbox.stop()
