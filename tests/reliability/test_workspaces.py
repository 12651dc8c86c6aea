"""Two Braze workspaces (two sandbox processes, two keys), one of which answers 401 for a
while: the other workspace's events are delivered throughout, the bridge stays ready, the
partitions' commits wait for the halted workspace's events, and once its key works again
those are delivered too. Nothing is dead-lettered, nothing is lost.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.reliability.conftest import Procs
from tests.support.faults import (
    accepted_counts,
    bridge_config,
    log_tail,
    make_events,
    produce_events,
    readyz,
    scrape,
    sends,
    tally,
    write_results,
)
from tests.support.kafka import (
    committed,
    create_topics,
    end_offsets,
    read_all,
    unique,
    wait_committed,
)
from tests.support.procs import Bridge, Sandbox

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PARTITIONS = 4
PHASE1 = 500
PHASE2 = 1_500
UNAUTHORIZED_S = 10.0
PROBE_S = 0.5
EU_KEY = "it-eu-key-5d21b0"  # the second workspace's key (the first: procs.API_KEY)


def rule(name: str, workspace: str, topic: str) -> dict[str, Any]:
    return {
        "name": name,
        "topic": topic,
        "workspace": workspace,
        "when": {"type": "order.shipped"},
        "action": "campaign_trigger",
        "campaign_id": f"c-{workspace}",
        "recipient": {"external_user_id": "$.user.id"},
        "trigger_properties": {"eid": "$.id"},
    }


def test_a_401_in_one_workspace_leaves_the_other_flowing(
    kafka_bootstrap: str, procs: Procs
) -> None:
    topic, dlq, group = unique("ws"), unique("ws-dlq"), unique("ws-grp")
    create_topics(kafka_bootstrap, {topic: PARTITIONS, dlq: 1})
    us = procs.sandbox()
    eu = Sandbox(api_key=EU_KEY)
    cfg = bridge_config(
        kafka_bootstrap,
        us,
        group=group,
        topic=topic,
        dlq=dlq,
        delivery={"halt_probe_interval_s": PROBE_S},
    )
    cfg["braze"] = {
        "workspaces": {
            "us": {"rest_endpoint": us.url, "api_key": "${BRAZE_API_KEY}"},
            "eu": {"rest_endpoint": eu.url, "api_key": "${EU_KEY}"},
        }
    }
    cfg["rules"] = [rule("to-us", "us", topic), rule("to-eu", "eu", topic)]
    bridge = Bridge(procs.tmp, cfg, name="bridge", env={"EU_KEY": EU_KEY}).start()

    wl = produce_events(kafka_bootstrap, topic, make_events(PHASE1), PARTITIONS)
    assert wait_committed(kafka_bootstrap, group, [topic], 60), log_tail(bridge)
    ends_before = end_offsets(kafka_bootstrap, topic)

    # eu's key stops working; new events for both workspaces arrive meanwhile
    eu.faults({"unauthorized_for_s": UNAUTHORIZED_S})
    t_fault = time.time()
    late = make_events(PHASE2, prefix="late")
    produce_events(kafka_bootstrap, topic, late, PARTITIONS, wl)
    late_ids = {e.eid for e in late}
    samples: list[tuple[float, int, float | None, int]] = []
    us_done_at: float | None = None
    in_window_committed: dict[int, int] = {}
    while time.time() < t_fault + UNAUTHORIZED_S - 1.5:
        status, _ = readyz(bridge)
        m = scrape(bridge)
        got = late_ids & set(accepted_counts(sends(us)))
        samples.append(
            (
                time.time() - t_fault,
                status,
                m.get("bridge_workspace_halted{workspace=eu}"),
                len(got),
            )
        )
        if us_done_at is None and len(got) == len(late_ids):
            us_done_at = time.time() - t_fault
        time.sleep(0.2)  # a sample every 0.2 s while eu's key is refused (the test's timeline)
    in_window_committed = committed(kafka_bootstrap, group, topic)
    assert wait_committed(kafka_bootstrap, group, [topic], 60), log_tail(bridge)
    m = scrape(bridge)
    rc = bridge.stop(30)
    us_t = tally(wl, accepted_counts(sends(us)))
    eu_records = sends(eu)
    eu_t = tally(wl, accepted_counts(eu_records))
    eu_401 = sum(1 for s in eu_records if s.status == 401)
    eu_first_after = min(
        (s.time - t_fault for s in eu_records if s.accepted and s.time > t_fault), default=None
    )
    dl = read_all(kafka_bootstrap, dlq, timeout=5)
    write_results(
        "workspaces-401",
        {
            "events": len(wl),
            "us": us_t.as_dict(),
            "eu": eu_t.as_dict(),
            "unauthorized_s": UNAUTHORIZED_S,
            "us_all_late_events_accepted_at_s": us_done_at,
            "eu_answers_401": eu_401,
            "eu_first_accept_after_fault_s": eu_first_after,
            "ready_samples": sum(1 for s in samples if s[1] == 200),
            "samples": len(samples),
            "dead_letter_topic_records": len(dl),
        },
    )
    assert us_done_at is not None and us_done_at < UNAUTHORIZED_S, (
        f"us did not deliver every late event during eu's 401 window: {samples[-3:]}"
    )
    assert samples and all(s[1] == 200 for s in samples), f"not ready while us delivers: {samples}"
    assert any(s[2] == 1.0 for s in samples), f"never saw eu halted: {samples}"
    # Every late event also feeds eu: no partition could commit past its first late event.
    for p, end in ends_before.items():
        assert in_window_committed.get(p, 0) <= end, (p, in_window_committed, ends_before)
    assert eu_401 > 0
    assert eu_first_after is not None and eu_first_after >= UNAUTHORIZED_S - 0.5
    assert m.get("bridge_workspace_halted{workspace=eu}") == 0.0
    assert int(m.get("bridge_events_dead_lettered_total", 0)) == 0
    assert dl == []
    assert us_t.lost == 0, f"us lost {us_t.lost} events, e.g. {us_t.lost_sample}"
    assert eu_t.lost == 0, f"eu lost {eu_t.lost} events, e.g. {eu_t.lost_sample}"
    assert rc == 0, log_tail(bridge)
