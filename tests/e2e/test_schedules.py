"""Schedule lifecycle end to end: create -> update -> cancel across a restart and two replicas;
send ids created once; a cancel that arrives before its create wins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.config import bridge_config
from tests.support.kafka import create_topics, produce, unique, wait_committed
from tests.support.procs import API_KEY, REPO, Bridge, Sandbox
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


def ev(kind: str, order: str, **extra: Any) -> tuple[str, bytes, bytes, None]:
    body = {"type": kind, "user": {"id": f"user-{order}"}, "order": {"id": order}, **extra}
    return ("", order.encode(), orjson.dumps(body), None)


def on(topic: str, msgs: list[tuple[str, bytes, bytes, None]]) -> list[Any]:
    return [(topic, k, v, p) for _, k, v, p in msgs]


def test_schedule_lifecycle_across_restart_and_two_replicas(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    orders, dlq, state = unique("orders"), unique("dlq"), unique("state")
    create_topics(kafka_bootstrap, {orders: 2, dlq: 1})
    sandbox = Sandbox()
    group = unique("grp")
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox.url,
        group=group,
        dlq=dlq,
        kafka={"state_topic": state},
        batching={"linger_ms": 50},
        observability={"port": 0},
        rules=[
            {
                "name": "wismo",
                "topic": orders,
                "when": {"type": "order.shipped"},
                "action": "campaign_schedule",
                "campaign_id": "camp-wismo",
                "recipient": {"external_user_id": "$.user.id"},
                "trigger_properties": {"order_id": "$.order.id"},
                "schedule": {"key": "$.order.id", "time": "$.eta - 2h"},
            },
            {
                "name": "wismo-moved",
                "topic": orders,
                "when": {"type": "order.delayed"},
                "action": "campaign_schedule",
                "campaign_id": "camp-wismo",
                "schedule": {
                    "name": "wismo",
                    "operation": "update",
                    "key": "$.order.id",
                    "time": "$.eta - 2h",
                },
            },
            {
                "name": "wismo-cancel",
                "topic": orders,
                "when": {"type": "order.delivered"},
                "action": "campaign_schedule",
                "campaign_id": "camp-wismo",
                "schedule": {"name": "wismo", "operation": "delete", "key": "$.order.id"},
            },
            {
                "name": "thanks",
                "topic": orders,
                "when": {"type": "order.shipped"},
                "action": "campaign_trigger",
                "campaign_id": "camp-thanks",
                "send_id": "thanks-1",
                "recipient": {"external_user_id": "$.user.id"},
            },
        ],
    )
    ids = [f"o{i}" for i in range(20)]
    produce(
        kafka_bootstrap,
        on(orders, [ev("order.shipped", o, eta="2030-06-01T12:00:00Z") for o in ids]),
    )
    a = Bridge(tmp_path, cfg, name="a").start()
    try:
        assert wait_committed(kafka_bootstrap, group, [orders], 90), a.log()[-3000:]
    finally:
        rc = a.stop()
    assert rc == 0, a.log()[-3000:]
    created = {
        r["body"]["recipients"][0]["trigger_properties"]["order_id"]: r["response"]
        for r in sandbox.requests("/campaigns/trigger/schedule/create")
    }
    assert sorted(created) == sorted(ids)
    sid = {o: resp["schedule_id"] for o, resp in created.items()}

    # Restart as two replicas; move 10, cancel 10, and cancel o99 before it is created.
    later = [ev("order.delayed", o, eta="2030-06-03T08:00:00Z") for o in ids[:10]]
    later += [ev("order.delivered", o) for o in ids[10:]]
    later += [ev("order.delivered", "o99"), ev("order.shipped", "o99", eta="2030-06-01T12:00:00Z")]
    b1 = Bridge(tmp_path, cfg, name="b1").start()
    b2 = Bridge(tmp_path, cfg, name="b2").start()
    try:
        wait_for(
            "both replicas to join the group",
            lambda: all("partitions assigned" in b.log() for b in (b1, b2)),
            60,
            0.3,
        )
        produce(kafka_bootstrap, on(orders, later))
        assert wait_committed(kafka_bootstrap, group, [orders], 90), b1.log()[-3000:]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bridge",
                "schedules",
                "--config",
                str(b1.path),
                "--until",
                "2031-01-01",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            env={"BRAZE_API_KEY": API_KEY, "PATH": "/usr/bin:/bin"},
        )
    finally:
        rcs = (b1.stop(), b2.stop())
    assert rcs == (0, 0), (b1.log()[-2000:], b2.log()[-2000:])
    updates = sandbox.requests("/campaigns/trigger/schedule/update")
    deletes = sandbox.requests("/campaigns/trigger/schedule/delete")
    assert all(r["status"] == 200 for r in updates + deletes), [
        (r["status"], r["response"], r["body"]) for r in updates + deletes if r["status"] != 200
    ][:3]
    assert sorted(r["body"]["schedule_id"] for r in updates) == sorted(sid[o] for o in ids[:10])
    assert {r["body"]["schedule"]["time"] for r in updates} == {"2030-06-03T06:00:00Z"}
    assert sorted(r["body"]["schedule_id"] for r in deletes) == sorted(sid[o] for o in ids[10:])
    # o99 was cancelled before it was created: the late create is skipped
    creates = sandbox.requests("/campaigns/trigger/schedule/create")
    assert len(creates) == 20
    live = sandbox.http.get("/_sandbox/schedules").json()["schedules"]
    assert sorted(s["schedule_id"] for s in live) == sorted(sid[o] for o in ids[:10])
    assert all(s["schedule"]["time"] == "2030-06-03T06:00:00Z" for s in live)
    # the send id was created once over three bridge starts
    assert len(sandbox.requests("/sends/id/create")) == 1
    thanks = sandbox.requests("/campaigns/trigger/send")
    assert thanks and all(r["body"].get("send_id") == "thanks-1" for r in thanks)
    # `braze-bridge schedules` lists what the bridge tracks
    assert out.returncode == 0, out.stderr[-2000:]
    doc = orjson.loads(out.stdout)
    assert sorted(s["key"] for s in doc["bridge_schedules"]) == sorted(ids[:10])
    sandbox.stop()
