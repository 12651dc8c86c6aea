"""/healthz, /readyz and log masking, as the README promises them."""

from __future__ import annotations

import logging

import httpx
import orjson

from bridge.ops import logs
from bridge.ops.health import HealthServer, HealthState
from bridge.ops.metrics import Metrics


def test_healthz_fails_when_the_poll_loop_stops_and_readyz_follows_halts() -> None:
    m = Metrics()
    # A fake clock: the test used to sleep past a 0.2 s timeout and failed under load when one
    # HTTP round trip took longer than the timeout itself (seen at load average 11).
    now = [1000.0]
    state = HealthState(m, liveness_timeout_s=5.0, clock=lambda: now[0])
    srv = HealthServer(state, "127.0.0.1", 0)
    srv.start()
    base = f"http://127.0.0.1:{srv.port}"
    try:
        assert httpx.get(f"{base}/readyz").status_code == 503  # not polling yet
        state.polled()
        assert httpx.get(f"{base}/healthz").status_code == 200
        state.assigned(2)
        assert httpx.get(f"{base}/readyz").json() == {"partitions": 2, "halted": [], "status": "ok"}
        state.halted("auth", True)
        assert httpx.get(f"{base}/readyz").status_code == 503
        assert m.registry.get_sample_value("bridge_halted", {"reason": "auth"}) == 1
        state.halted("auth", False)
        now[0] += 6.0  # no poll for longer than the liveness timeout
        r = httpx.get(f"{base}/healthz")
        assert r.status_code == 503 and r.json()["status"] == "fail"
        assert "bridge_events_consumed_total" in httpx.get(f"{base}/metrics").text
    finally:
        srv.stop()


def _line(pii: str, **extra: object) -> dict[str, object]:
    rec = logging.makeLogRecord({"msg": "x", "levelname": "INFO", "name": "t", **extra})
    out: dict[str, object] = orjson.loads(logs.JsonFormatter(pii).format(rec))
    return out


def test_user_ids_and_emails_are_masked_or_hashed_and_secrets_scrubbed() -> None:
    assert _line("mask", email="ada@example.com")["email"] == "a***@example.com"
    assert _line("mask", external_user_id="user-42")["external_user_id"] == "us***"
    hashed = _line("hash", email="ada@example.com")["email"]
    assert isinstance(hashed, str) and hashed.startswith("sha256:") and "ada" not in hashed
    assert _line("none", email="ada@example.com")["email"] == "ada@example.com"
    logs.register_secret("s3cr3t-key-value")
    assert "s3cr3t" not in orjson.dumps(_line("mask", error="bad key s3cr3t-key-value")).decode()
