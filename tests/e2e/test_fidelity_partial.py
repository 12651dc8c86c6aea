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
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.kafka import create_topics, produce, read_all, unique, wait_committed
from tests.support.procs import API_KEY, REPO, Bridge

pytestmark = pytest.mark.integration

ERROR_TEXT = "external_user_id user-2 has no email address"


class _Braze:
    """Answers every POST with 201 success; with errors[] naming user-2 while ``partial``."""

    def __init__(self) -> None:
        self.partial = True
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.bodies.append(body)
                    partial = outer.partial
                ids = [r.get("external_user_id") for r in body.get("recipients", [])]
                answer: dict[str, Any] = {"message": "success", "dispatch_id": "d-1"}
                if partial and "user-2" in ids:
                    answer["errors"] = [ERROR_TEXT]
                data = orjson.dumps(answer)
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def recipients(self) -> list[str]:
        with self.lock:
            return [r["external_user_id"] for b in self.bodies for r in b.get("recipients", [])]


@pytest.fixture
def braze() -> Iterator[_Braze]:
    b = _Braze()
    try:
        yield b
    finally:
        b.server.shutdown()
        b.server.server_close()


def _wait(fn: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


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
        partial = _wait(
            lambda: bridge.metric(
                "bridge_events_dead_lettered_total", {"stage": "deliver", "reason": "partial"}
            ),
            30,
            "the partial dead letter counted",
        )
        assert partial == 1
        assert bridge.metric("bridge_events_dead_lettered_total") == 1
        assert bridge.metric("bridge_recipients_sent_total") == 2
    finally:
        assert bridge.stop() == 0
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
