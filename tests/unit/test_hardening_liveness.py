"""#16 item 3: the bridge notices it is stuck. A delivery task that dies still gives its
batch an outcome and is counted; /healthz fails while the sender has work pending and makes
no progress, and when a background thread dies; the sender never hangs start-up (D6); the
health server writes no raw tracebacks (D19)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import httpx
import pytest

from bridge.deliver.sender import Outcome, Sender
from bridge.errors import SourceError
from bridge.ops.health import HealthServer, HealthState
from bridge.ops.metrics import Metrics
from bridge.settings import BrazeSettings, DeliverySettings
from tests.support.wait import wait_for

from .test_sender import batch


def _sender(
    transport: httpx.AsyncBaseTransport | None, **braze: Any
) -> tuple[Sender, queue.SimpleQueue[Any], Metrics]:
    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    m = Metrics()
    d = DeliverySettings.model_validate({"retry": {"initial_backoff_ms": 1, "max_elapsed_s": 2}})
    b = BrazeSettings.model_validate(
        {"rest_endpoint": "http://127.0.0.1:9", "api_key": "k", **braze}
    )
    return Sender(b, d, m, q.put, transport=transport), q, m


def _first_outcome(q: queue.SimpleQueue[Any], timeout: float = 5) -> Outcome:
    deadline = time.monotonic() + timeout
    while True:
        o = q.get(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(o, Outcome):
            return o


def test_a_delivery_task_that_dies_still_finishes_its_batch_and_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The non-Latin-1 key case: encoding the request raised, the task died, 20 events
    stayed in flight forever with probes green."""

    def handler(req: httpx.Request) -> httpx.Response:
        raise UnicodeEncodeError("latin-1", "Bearer SECRET\u200b", 13, 14, "not latin-1")

    s, q, m = _sender(httpx.MockTransport(handler))
    s.start()
    try:
        with caplog.at_level(logging.ERROR, "bridge.deliver"):
            s.submit(batch(["u1", "u2"]))
            o = _first_outcome(q)
        assert o.accepted is False
        assert o.reason == "internal_error"
        assert "UnicodeEncodeError" in o.message
        assert s.in_flight == 0
        assert m.registry.get_sample_value("bridge_task_failures_total", {"task": "sender"}) == 1
        assert "SECRET" not in caplog.text
    finally:
        s.close()


def test_healthz_fails_while_the_sender_has_work_and_makes_no_progress() -> None:
    gate = threading.Event()

    def handler(req: httpx.Request) -> httpx.Response:
        gate.wait(10)  # blocks the sender's event loop: nothing on it can progress
        return httpx.Response(201, json={"message": "success"})

    s, q, m = _sender(httpx.MockTransport(handler), connect_timeout_s=0.05, request_timeout_s=0.05)
    health = HealthState(m, liveness_timeout_s=0.5)
    health.watch("sender", s.stalled_for)
    s.start()
    try:
        assert health.live()[0] is True
        s.submit(batch(["u1"]))

        def stalled() -> bool:
            health.polled()  # the poll loop itself is fine
            return not health.live()[0]

        wait_for("liveness to fail on the stalled sender", stalled, 5, 0.05)
        ok, info = health.live()
        assert ok is False
        assert "sender" in info["stalled_s"]  # type: ignore[operator]
        gate.set()
        assert _first_outcome(q).accepted is True
        health.polled()
        assert health.live()[0] is True  # nothing pending any more
    finally:
        gate.set()
        s.close()


def test_an_idle_sender_is_not_stalled() -> None:
    s, _, m = _sender(httpx.MockTransport(lambda r: httpx.Response(201, json={})))
    # The poll age gets a generous timeout (a loaded CI machine may pause this thread for tens
    # of milliseconds); what is under test is that an idle sender never reports a stall.
    health = HealthState(m, liveness_timeout_s=5.0)
    health.watch("sender", s.stalled_for)
    s.start()
    try:
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            health.polled()
            assert s.stalled_for() == 0.0
            assert health.live()[0] is True
            time.sleep(0.02)  # the behaviour under test: idle for 0.2 s, checked every 0.02 s
    finally:
        s.close()


def test_a_thread_that_dies_fails_liveness_and_is_logged_once_and_counted(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    m = Metrics()
    health = HealthState(m, liveness_timeout_s=60)

    def boom() -> None:
        raise RuntimeError("reload exploded")

    with caplog.at_level(logging.ERROR, "bridge.health"):
        for _ in range(2):
            t = threading.Thread(target=boom, name="config-reload")
            t.start()
            t.join()
    ok, info = health.live()
    assert ok is False
    assert info["dead_threads"] == ["config-reload"]
    assert m.registry.get_sample_value("bridge_task_failures_total", {"task": "config-reload"}) == 2
    assert [r.getMessage() for r in caplog.records].count("background thread died") == 1
    assert "Traceback" not in capsys.readouterr().err


def test_sender_that_cannot_build_its_client_fails_start_instead_of_hanging() -> None:
    """D6: the thread died at start and start() waited forever (SIGTERM ignored)."""
    b = BrazeSettings.model_construct(
        rest_endpoint="http://127.0.0.1:9",
        api_key="x",
        connect_timeout_s=1.0,
        request_timeout_s=1.0,
        max_in_flight=1,
        http_transport="httpx",
    )
    s = Sender(b, DeliverySettings(), Metrics(), lambda o: None)
    result: list[BaseException | None] = []

    def start() -> None:
        try:
            s.start()
            result.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result.append(exc)

    t = threading.Thread(target=start, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "start() hung"
    assert isinstance(result[0], SourceError)
    assert "cannot start" in str(result[0])


def test_health_server_logs_a_hung_up_probe_as_json_not_a_traceback(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = HealthServer(HealthState(Metrics(), 60), "127.0.0.1", 0)
    try:
        with caplog.at_level(logging.DEBUG, "bridge.health"):
            try:
                raise BrokenPipeError(32, "Broken pipe")
            except BrokenPipeError:
                srv.httpd.handle_error(None, ("127.0.0.1", 1))
        assert capsys.readouterr().err == ""
        [rec] = [r for r in caplog.records if r.getMessage() == "health request failed"]
        assert rec.levelno == logging.DEBUG
    finally:
        srv.httpd.server_close()
