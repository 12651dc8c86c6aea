"""Readiness means "can do work if given some": an idle group member is ready.

With ``replicas == partitions`` (the documented maximum) the surge pod of a rolling update
gets no partition; if that made it unready, Kubernetes would never remove an old pod.
"""

from __future__ import annotations

import httpx
import pytest

from bridge.ops.health import HealthServer, HealthState
from bridge.ops.metrics import Metrics


def test_an_idle_polling_member_is_ready_and_halts_still_make_it_unready() -> None:
    state = HealthState(Metrics(), liveness_timeout_s=30)
    srv = HealthServer(state, "127.0.0.1", 0)
    srv.start()
    base = f"http://127.0.0.1:{srv.port}"
    try:
        r = httpx.get(f"{base}/readyz")
        assert r.status_code == 503 and r.json()["reason"] == "starting"
        state.polled()  # subscribed and polling, but the group gave it no partition
        r = httpx.get(f"{base}/readyz")
        assert r.status_code == 200
        assert r.json() == {"partitions": 0, "halted": [], "status": "ok"}
        for reason in ("auth", "circuit_breaker", "shutdown"):
            state.halted(reason, True)
            r = httpx.get(f"{base}/readyz")
            assert r.status_code == 503 and r.json()["halted"] == [reason]
            state.halted(reason, False)
        assert httpx.get(f"{base}/readyz").status_code == 200
    finally:
        srv.stop()


def test_a_client_hanging_up_mid_answer_logs_no_raw_traceback(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import socket

    srv = HealthServer(HealthState(Metrics(), liveness_timeout_s=30), "127.0.0.1", 0)
    srv.start()
    try:
        for _ in range(20):  # ask for /metrics and hang up with a reset before reading
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            s.close()
        assert httpx.get(f"http://127.0.0.1:{srv.port}/healthz").status_code in (200, 503)
    finally:
        srv.stop()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err
