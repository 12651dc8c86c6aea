"""``observability: {enabled: true, port: 0}``: ``braze-bridge run`` binds an ephemeral metrics
port and names it in its start-up line, in the JSON and the text log format, so several
bridges share a host without picking ports in advance."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.config import bridge_config, deep_merge
from tests.support.kafka import create_topics, produce, unique, wait_committed
from tests.support.procs import Bridge, Sandbox, accepted_recipients, scrape_metrics
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

EVENTS = 40


def _get(port: int, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)


def test_two_bridges_log_their_ephemeral_metrics_ports_and_serve_metrics_on_them(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    orders, dlq, group = unique("orders"), unique("dlq"), unique("grp")
    create_topics(kafka_bootstrap, {orders: 2, dlq: 1})
    sandbox = Sandbox()
    rule = {
        "name": "shipped",
        "topic": orders,
        "action": "campaign_trigger",
        "campaign_id": "c-ship",
        "recipient": {"external_user_id": "$.user"},
    }
    cfg = bridge_config(kafka_bootstrap, sandbox.url, group=group, dlq=dlq, rules=[rule])
    assert cfg["observability"]["enabled"] is True and cfg["observability"]["port"] == 0
    as_json = Bridge(tmp_path, cfg, name="json").start()
    as_text = Bridge(
        tmp_path, deep_merge(cfg, {"observability": {"log_format": "text"}}), name="text"
    ).start()
    bridges = (as_json, as_text)
    consumed: dict[str, float] = {}
    try:
        ports = {b.name: b.metrics_port() for b in bridges}
        for b in bridges:  # both in the group with one of the two partitions each
            wait_for(
                f"{b.name} ready with a partition",
                lambda b=b: _get(ports[b.name], "/readyz").json().get("partitions") == 1,
                90,
            )
        produce(
            kafka_bootstrap,
            [
                (orders, f"k{i}".encode(), orjson.dumps({"user": f"u{i}"}), i % 2)
                for i in range(EVENTS)
            ],
        )
        assert wait_committed(kafka_bootstrap, group, [orders], 90), as_json.log()[-3000:]
        for b in bridges:
            page = _get(ports[b.name], "/metrics")
            consumed[b.name] = sum(
                v for n, _, v in scrape_metrics(page.text) if n == "bridge_events_consumed_total"
            )
        accepted = accepted_recipients(sandbox.requests())
    finally:
        codes = [b.stop() for b in bridges]
        sandbox.stop()
    assert codes == [0, 0]
    assert ports["json"] != ports["text"] and 0 not in ports.values()
    # the start-up line itself, as an operator reads it in each format
    (line,) = [x for x in as_json.log().splitlines() if "metrics server listening" in x]
    rec = json.loads(line)
    assert (rec["level"], rec["logger"], rec["host"], rec["port"]) == (
        "INFO",
        "bridge.health",
        "127.0.0.1",
        ports["json"],
    )
    (line,) = [x for x in as_text.log().splitlines() if "metrics server listening" in x]
    assert re.search(rf" INFO bridge\.health .* host=127\.0\.0\.1 port={ports['text']}$", line)
    # each /metrics, scraped on its logged port, counts its own share of the events
    assert consumed["json"] > 0 and consumed["text"] > 0
    assert consumed["json"] + consumed["text"] == EVENTS
    assert sorted(r["external_user_id"] for r in accepted) == sorted(f"u{i}" for i in range(EVENTS))
