"""A live bridge's /metrics passes the real ``promtool check metrics`` and carries the
series an SRE needs: process and build info, end-to-end latency per rule, the age of the
oldest unfinished event (real broker, real sandbox)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.helm.tools import ensure_go_tool
from tests.support.faults import (
    bridge_config,
    make_events,
    produce_events,
    readyz,
    sandbox_accepted,
    scrape,
    wait_for,
)
from tests.support.kafka import create_topics, unique
from tests.support.procs import Bridge, Sandbox

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2700)]


def test_live_metrics_pass_promtool_and_carry_latency_process_and_build_info(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    promtool = ensure_go_tool("promtool")
    topic, dlq, group = unique("lm"), unique("lm-dlq"), unique("lm-grp")
    create_topics(kafka_bootstrap, {topic: 2, dlq: 1})
    sandbox = Sandbox()
    bridge = Bridge(
        tmp_path, bridge_config(kafka_bootstrap, sandbox, group=group, topic=topic, dlq=dlq)
    ).start()
    wait_for("the bridge is ready", lambda: readyz(bridge)[0] == 200 or None, timeout=60)
    wl = produce_events(kafka_bootstrap, topic, make_events(40, poison_share=0.1), 2)
    wait_for(
        "every sendable event is accepted",
        lambda: sandbox_accepted(sandbox) >= len(wl.expected) or None,
        timeout=90,
    )
    wait_for(
        "latency observed for every accepted event",
        lambda: (
            scrape(bridge).get("bridge_event_latency_seconds_count", 0) >= len(wl.expected) or None
        ),
        timeout=30,
    )
    text = httpx.get(f"http://127.0.0.1:{bridge.port}/metrics", timeout=5).text
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), (
        proc.stdout + proc.stderr
    )
    m = scrape(bridge)
    assert m["bridge_build_info"] == 1
    assert m["process_resident_memory_bytes"] > 10_000_000
    assert m["process_cpu_seconds_total"] > 0
    assert m["bridge_event_latency_seconds_count{rule=shipped}"] >= len(wl.expected)
    assert m["bridge_event_latency_seconds_sum"] < 60 * len(wl.expected)  # seconds, not ms
    wait_for(
        "nothing left open",
        lambda: scrape(bridge).get("bridge_oldest_unfinished_event_age_seconds", -1) == 0 or None,
        timeout=60,
    )
    assert "bridge_kafka_client{" not in text
    assert bridge.stop() == 0
    sandbox.stop()
