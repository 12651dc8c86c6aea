"""Fault injection: 5xx share, latency, hangs, resets, 429/401 windows, poison recipients."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sandbox_helpers import Sandbox, campaign, canvas, message, rcpt


def statuses(sb: Sandbox, n: int, path: str = "/campaigns/trigger/send") -> list[int]:
    return [sb.post(path, campaign()).status_code for _ in range(n)]


def test_error_share_and_statuses(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(faults={"error_rate": 1.0, "error_statuses": [503]})
    r = sb.post("/campaigns/trigger/send", campaign())
    assert r.status_code == 503
    assert r.json() == {"message": "Service Unavailable"}
    assert "X-RateLimit-Reset" in r.headers
    assert sb.stats()["faults"] == {"error": 1}
    assert sb.requests()[-1]["fault"] == "error"


def test_error_share_is_seeded_and_reproducible(make_sandbox: Callable[..., Sandbox]) -> None:
    spec = {"error_rate": 0.3, "seed": 42}
    first = statuses(make_sandbox(faults=spec), 60)
    second = statuses(make_sandbox(faults=spec), 60)
    assert first == second
    errors = sum(s >= 500 for s in first)
    assert 5 <= errors <= 35
    assert set(first) <= {200, 500, 502, 503, 504}


def test_latency_fixed_and_range(sandbox: Sandbox) -> None:
    sandbox.post("/_sandbox/faults", {"latency_ms": 150})
    t = time.perf_counter()
    assert sandbox.post("/campaigns/trigger/send", campaign()).status_code == 200
    assert time.perf_counter() - t >= 0.14
    sandbox.post("/_sandbox/faults", {"latency_ms": {"min": 50, "max": 80}})
    t = time.perf_counter()
    sandbox.post("/campaigns/trigger/send", campaign())
    assert 0.045 <= time.perf_counter() - t < 1.0


def test_latency_does_not_block_other_connections(sandbox: Sandbox) -> None:
    sandbox.post("/_sandbox/faults", {"latency_ms": 500, "paths": ["/canvas/trigger/send"]})
    import threading

    done: list[float] = []

    def slow() -> None:
        with httpx.Client(base_url=sandbox.url, headers=sandbox.client.headers) as c:
            c.post("/canvas/trigger/send", json=canvas())
        done.append(time.perf_counter())

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.05)  # the behaviour under test: the slow request is in flight meanwhile
    t = time.perf_counter()
    assert sandbox.post("/campaigns/trigger/send", campaign()).status_code == 200
    assert time.perf_counter() - t < 0.3
    th.join()
    assert done


def test_hang_makes_client_time_out_but_request_is_accepted(sandbox: Sandbox) -> None:
    sandbox.post("/_sandbox/faults", {"hang_rate": 1.0, "hang_s": 5})
    with pytest.raises(httpx.ReadTimeout):
        sandbox.post("/campaigns/trigger/send", campaign(), timeout=0.3)
    rec = sandbox.requests()[-1]
    assert rec["status"] == 200
    assert rec["fault"] == "hang"


def test_connection_reset(sandbox: Sandbox) -> None:
    sandbox.post("/_sandbox/faults", {"reset_rate": 1.0})
    with pytest.raises(httpx.TransportError):
        sandbox.post("/campaigns/trigger/send", campaign())
    assert sandbox.stats()["faults"] == {"reset": 1}
    assert sandbox.stats()["accepted_total"] == 0
    sandbox.client.delete("/_sandbox/faults")
    assert sandbox.post("/campaigns/trigger/send", campaign()).status_code == 200


def test_rate_limit_window(sandbox: Sandbox) -> None:
    sandbox.post("/_sandbox/faults", {"rate_limit_for_s": 0.5})
    r = sandbox.post("/campaigns/trigger/send", campaign())
    assert r.status_code == 429
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert r.json() == {"message": "Rate limit exceeded"}
    time.sleep(0.6)  # the behaviour under test: the 0.5 s fault window runs out
    assert sandbox.post("/campaigns/trigger/send", campaign()).status_code == 200


def test_unauthorized_window(sandbox: Sandbox) -> None:
    sandbox.post("/_sandbox/faults", {"unauthorized_for_s": 0.5})
    r = sandbox.post("/campaigns/trigger/send", campaign())
    assert r.status_code == 401
    assert r.json()["message"].startswith("Invalid API key")
    time.sleep(0.6)  # the behaviour under test: the 0.5 s fault window runs out
    assert sandbox.post("/campaigns/trigger/send", campaign()).status_code == 200


def test_poison_recipients_allow_bisecting(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(faults={"poison_prefixes": ["bad-"], "poison_ids": ["u13"]})
    batch = [rcpt(f"u{i}") for i in range(10)] + [rcpt("bad-7")]
    r = sb.post("/campaigns/trigger/send", campaign(recipients=batch))
    assert r.status_code == 400
    assert r.json()["message"] == "Bad Request"
    assert "bad-7" not in r.text  # the client has to bisect
    assert sb.post("/campaigns/trigger/send", campaign(recipients=batch[:10])).status_code == 200
    r = sb.post("/messages/send", message(external_user_ids=["u1", "u13"]))
    assert r.status_code == 400
    assert sb.stats()["faults"] == {"poison": 2}
    assert sb.stats()["accepted_recipients"] == 10


def test_paths_filter(sandbox: Sandbox) -> None:
    sandbox.post("/_sandbox/faults", {"error_rate": 1, "paths": ["/canvas/trigger/send"]})
    assert sandbox.post("/campaigns/trigger/send", campaign()).status_code == 200
    assert sandbox.post("/canvas/trigger/send", canvas()).status_code >= 500


def test_faults_api_get_replace_delete(sandbox: Sandbox) -> None:
    assert sandbox.get("/_sandbox/faults").json()["faults"] == {}
    r = sandbox.post("/_sandbox/faults", {"error_rate": 0.5, "rate_limit_for_s": 30})
    assert r.status_code == 200
    got = sandbox.get("/_sandbox/faults").json()
    assert got["faults"] == {"error_rate": 0.5, "rate_limit_for_s": 30}
    assert got["rate_limit_until"] > time.time() + 25
    sandbox.post("/_sandbox/faults", {"latency_ms": 1})  # replace, not merge
    assert sandbox.get("/_sandbox/faults").json()["faults"] == {"latency_ms": 1}
    assert sandbox.client.delete("/_sandbox/faults").json()["faults"] == {}


@pytest.mark.parametrize(
    "spec",
    [
        {"error_rate": 2},
        {"error_statuses": [404]},
        {"latency_ms": [50, 10]},
        {"nonsense": 1},
        {"poison_prefixes": [""]},
        [1, 2],
    ],
)
def test_bad_fault_specs(sandbox: Sandbox, spec: Any) -> None:
    r = sandbox.post("/_sandbox/faults", spec)
    assert r.status_code == 400
    assert sandbox.get("/_sandbox/faults").json()["faults"] == {}
