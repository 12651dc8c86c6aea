"""Issue 12, item 6, end to end on a real broker: Braze answers 2xx with ``errors[]`` naming a
recipient. That recipient's event is dead-lettered with class ``partial`` and Braze's text,
counted, the others are not, every offset is committed, and ``braze-bridge replay`` sends the
partial one again.

Today's sandbox cannot give this answer (a fault for it is being added), so a small loopback
stand-in answers ``/campaigns/trigger/send`` here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.http import serve
from tests.support.kafka import create_topics, produce, read_all, unique, wait_committed
from tests.support.procs import API_KEY, REPO, Bridge
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

ERROR_TEXT = "external_user_id user-2 has no email address"


class _Braze:
    """Answers every POST with 201 success; with errors[] naming user-2 while ``partial``."""

    def __init__(self) -> None:
        self.partial = True
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        with self.lock:
            self.bodies.append(body)
            partial = self.partial
        ids = [r.get("external_user_id") for r in body.get("recipients", [])]
        answer: dict[str, Any] = {"message": "success", "dispatch_id": "d-1"}
        if partial and "user-2" in ids:
            answer["errors"] = [ERROR_TEXT]
        return httpx.Response(201, json=answer)

    def recipients(self) -> list[str]:
        with self.lock:
            return [r["external_user_id"] for b in self.bodies for r in b.get("recipients", [])]


@pytest.fixture
def braze() -> Iterator[_Braze]:
    b = _Braze()
    with serve(b.answer) as url:
        b.url = url
        yield b


def test_2xx_with_errors_dead_letters_the_named_recipient_as_partial_and_replays_it(
    kafka_bootstrap: str, tmp_path: Path, braze: _Braze
) -> None:
    from tests.support.procs import EPHEMERAL_METRICS

    orders, dlq, group = unique("orders"), unique("dlq"), unique("grp")
    create_topics(kafka_bootstrap, {orders: 1, dlq: 1})
    cfg: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": kafka_bootstrap,
            "group_id": group,
            "dead_letter_topic": dlq,
        },
        "braze": {"rest_endpoint": braze.url, "api_key": "${BRAZE_API_KEY}"},
        "batching": {"linger_ms": 300},
        "observability": dict(EPHEMERAL_METRICS),
        "rules": [
            {
                "name": "shipped",
                "topic": orders,
                "action": "campaign_trigger",
                "campaign_id": "c-shipped",
                "recipient": {"external_user_id": "$.user.id"},
            }
        ],
    }
    events = [
        (orders, None, json.dumps({"user": {"id": f"user-{i}"}}).encode(), 0) for i in (1, 2, 3)
    ]
    bridge = Bridge(tmp_path, cfg).start()
    try:
        produce(kafka_bootstrap, events)
        assert wait_committed(kafka_bootstrap, group, [orders], 60), bridge.log()[-3000:]
        partial = wait_for(
            "the partial dead letter counted",
            lambda: bridge.metric(
                "bridge_events_dead_lettered_total", {"stage": "deliver", "reason": "partial"}
            ),
            30,
            0.2,
        )
        assert partial == 1
        assert bridge.metric("bridge_events_dead_lettered_total") == 1
        assert bridge.metric("bridge_recipients_sent_total") == 2
    finally:
        rc = bridge.stop()
    assert rc == 0, bridge.log()[-3000:]
    assert sorted(braze.recipients()) == ["user-1", "user-2", "user-3"]
    (rec,) = read_all(kafka_bootstrap, dlq)
    headers = {k: (v or b"").decode() for k, v in rec.headers()}
    assert orjson.loads(rec.value()) == {"user": {"id": "user-2"}}
    assert headers["__bridge.errors.class"] == "partial"
    assert headers["__bridge.errors.stage"] == "deliver"
    assert headers["__bridge.errors.rule"] == "shipped"
    assert headers["__bridge.errors.http.status"] == "201"
    assert ERROR_TEXT in headers["__bridge.errors.message"]
    assert API_KEY not in json.dumps(headers)

    # Replayable: once Braze delivers again, replay sends exactly the partial recipient.
    braze.partial = False
    before = len(braze.recipients())
    replay = subprocess.run(
        [sys.executable, "-m", "bridge", "replay", "--config", str(bridge.path)],
        cwd=REPO,
        env=bridge.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert braze.recipients()[before:] == ["user-2"]
