"""Operating the bridge: health endpoints, hot reload (good and bad), shadow rules,
dedupe, PII masking in logs, and no secret anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from tests.support.kafka import create_topics, produce, read_all, unique, wait_committed
from tests.support.procs import API_KEY, EPHEMERAL_METRICS, Bridge, Sandbox, accepted_recipients
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


def test_health_reload_shadow_dedupe_and_logs(kafka_bootstrap: str, tmp_path: Path) -> None:
    orders, dlq, shadow = unique("orders"), unique("dlq"), unique("shadow")
    create_topics(kafka_bootstrap, {orders: 2, dlq: 1, shadow: 1})
    sandbox = Sandbox()
    group = unique("grp")

    cfg: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": kafka_bootstrap,
            "group_id": group,
            "dead_letter_topic": dlq,
            "shadow_topic": shadow,
        },
        "braze": {"rest_endpoint": sandbox.url, "api_key": "${BRAZE_API_KEY}"},
        "batching": {"linger_ms": 50},
        "observability": {**EPHEMERAL_METRICS, "pii": "mask", "log_level": "DEBUG"},
        "rules": [
            {
                "name": "live",
                "topic": orders,
                "when": {"type": "a"},
                "action": "campaign_trigger",
                "campaign_id": "c-live",
                "recipient": {"external_user_id": "$.user.id"},
                "dedupe": {"key": "$.event_id", "window": "10m"},
            },
            {
                "name": "candidate",
                "topic": orders,
                "when": {"type": "a"},
                "shadow": True,
                "action": "canvas_trigger",
                "canvas_id": "cv-new",
                "recipient": {"email": "$.user.email", "prioritization": ["identified"]},
            },
        ],
    }
    bridge = Bridge(tmp_path, cfg).start()
    base = f"http://127.0.0.1:{bridge.port}"
    try:
        wait_for("readyz", lambda: httpx.get(f"{base}/readyz").status_code == 200, 60)
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"

        def event(i: int, kind: str = "a", eid: str | None = None) -> Any:
            return (
                orders,
                None,
                orjson.dumps(
                    {
                        "type": kind,
                        "event_id": eid or f"e{i}",
                        "user": {"id": f"secret-user-{i}", "email": f"person{i}@example.com"},
                    }
                ),
                None,
            )

        # 20 events + 5 producer-retry duplicates of the first five
        produce(kafka_bootstrap, [event(i) for i in range(20)] + [event(i) for i in range(5)])
        assert wait_committed(kafka_bootstrap, group, [orders], 60), bridge.log()[-2000:]
        got = [r["external_user_id"] for r in accepted_recipients(sandbox.requests())]
        assert sorted(got) == sorted(f"secret-user-{i}" for i in range(20))  # dedupe
        assert bridge.metric("bridge_events_skipped_total", {"reason": "duplicate"}) == 5
        # shadow: nothing sent to /canvas, but recorded on the shadow topic
        assert sandbox.requests("/canvas/trigger/send") == []
        shadowed = [orjson.loads(m.value()) for m in read_all(kafka_bootstrap, shadow)]
        emails = sorted(r["email"] for d in shadowed for r in d["body"]["recipients"])
        # (the shadow rule has no dedupe: it sees the 5 duplicates too)
        assert emails == sorted(
            [f"person{i}@example.com" for i in range(20)]
            + [f"person{i}@example.com" for i in range(5)]
        )
        assert all(d["path"] == "/canvas/trigger/send" for d in shadowed)

        # Hot reload, bad: the old rules keep running.
        good = bridge.path.read_text()
        bridge.path.write_text(good.replace("campaign_id: c-live", "campaign: c-live"))
        wait_for(
            "failed reload",
            lambda: bridge.metric("bridge_config_reloads_total", {"result": "failed"}) >= 1,
            30,
        )
        produce(kafka_bootstrap, [event(100, eid="x100")])
        wait_for(
            "old rule",
            lambda: any(
                r["external_user_id"] == "secret-user-100"
                for r in accepted_recipients(sandbox.requests())
            ),
            30,
        )
        # Hot reload, good (SIGHUP): the campaign changes between batches.
        cfg["rules"][0]["campaign_id"] = "c-next"
        bridge.path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        assert bridge.proc is not None
        bridge.proc.send_signal(1)  # SIGHUP
        wait_for(
            "reload ok",
            lambda: bridge.metric("bridge_config_reloads_total", {"result": "ok"}) >= 1,
            30,
        )
        produce(kafka_bootstrap, [event(101, eid="x101")])
        wait_for(
            "new rule",
            lambda: any(
                r["body"].get("campaign_id") == "c-next"
                for r in sandbox.requests("/campaigns/trigger/send")
            ),
            30,
        )
        # Revoked key: /readyz fails, nothing dead-lettered.
        sandbox.faults({"unauthorized_for_s": 4})
        produce(kafka_bootstrap, [event(102, eid="x102")])
        wait_for("not ready", lambda: httpx.get(f"{base}/readyz").status_code == 503, 30)
        assert httpx.get(f"{base}/readyz").json()["halted"] == ["auth"]
        wait_for("ready again", lambda: httpx.get(f"{base}/readyz").status_code == 200, 60)
        wait_for(
            "resumed",
            lambda: any(
                r["external_user_id"] == "secret-user-102"
                for r in accepted_recipients(sandbox.requests())
            ),
            30,
        )
        assert bridge.metric("bridge_events_dead_lettered_total") == 0
        metrics_text = bridge.metrics()
    finally:
        rc = bridge.stop()
        sandbox_log = sandbox.stop()
    assert rc == 0, bridge.log()[-3000:]
    log = bridge.log()
    assert "HALTED" in log and "config reload failed" in log
    assert "rules[0].campaign: Extra inputs are not permitted" in log
    # secrets never appear; user ids and emails are masked in log fields
    for text in (log, metrics_text, sandbox_log):
        assert API_KEY not in text
    assert "person3@example.com" not in log
    assert "secret-user-" not in metrics_text
