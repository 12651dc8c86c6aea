from __future__ import annotations

import queue
import threading
from typing import Any

import httpx
import orjson

from bridge.actions.base import Item, Shape
from bridge.batch import Batch
from bridge.deliver.classify import Verdict, classify
from bridge.deliver.pacing import Pacer
from bridge.deliver.retry import backoff_s, exhausted
from bridge.deliver.sender import Control, Outcome, Sender
from bridge.models import Record
from bridge.offsets import InFlight, PartitionTracker
from bridge.ops.metrics import Metrics
from bridge.settings import BrazeSettings, DeliverySettings, RetrySettings
from tests.unit.served_sender import ServedSender

SHAPE = Shape.make(
    "POST",
    "/campaigns/trigger/send",
    {"campaign_id": "c", "broadcast": False},
    "recipients",
    50,
    "default",
)


def batch(ids: list[str]) -> Batch:
    tr = PartitionTracker("t", 0, InFlight())
    b = Batch(SHAPE, 0.0)
    for i, uid in enumerate(ids):
        t = tr.track(Record("t", 0, i, None, b"", (), 0), 1)
        t.add()
        b.items.append(Item(t, "r", SHAPE, uid, {"external_user_id": uid}))
    return b


def make_sender(handler: Any, **delivery: Any) -> tuple[Sender, queue.SimpleQueue[Any], Metrics]:
    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    m = Metrics()
    d = DeliverySettings.model_validate(
        {
            "retry": {"initial_backoff_ms": 1, "max_backoff_ms": 5, "max_elapsed_s": 2},
            "halt_probe_interval_s": 0.05,
            **delivery,
        }
    )
    b = BrazeSettings.model_validate(
        {
            "rest_endpoint": "http://braze.test",
            "allow_insecure_http": True,
            "api_key": "secret-key",
            "max_in_flight": 4,
        }
    )
    s = ServedSender(handler, b, d, m, q.put)
    s.start()
    return s, q, m


def outcomes(q: queue.SimpleQueue[Any], n: int, timeout: float = 5) -> list[Outcome]:
    out: list[Outcome] = []
    while len(out) < n:
        o = q.get(timeout=timeout)
        if isinstance(o, Outcome):
            out.append(o)
    return out


def test_classification_table() -> None:
    assert classify(201, {"message": "success", "dispatch_id": "d"}).verdict is Verdict.ACCEPT
    assert classify(202, {"message": "queued"}).reason == "queued"
    assert classify(200, {"message": "success", "errors": ["x"]}).reason == "partial"
    assert classify(201, {"message": "success", "notice": "The Canvas is paused."}).verdict is (
        Verdict.REJECT
    )
    assert classify(201, {"notice": "p"}, on_notice="accept").verdict is Verdict.ACCEPT
    for s, v in [
        (400, Verdict.REJECT),
        (404, Verdict.HALT),
        (413, Verdict.REJECT),
        (401, Verdict.HALT),
        (403, Verdict.HALT),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
    ]:
        assert classify(s, {"message": "x"}).verdict is v, s
    assert classify(400, {}, overrides={400: "retry"}).verdict is Verdict.RETRY


def test_bearer_header_and_success() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(201, json={"message": "success", "dispatch_id": "d1"})

    s, q, m = make_sender(handler)
    try:
        s.submit(batch(["a", "b"]))
        (o,) = outcomes(q, 1)
    finally:
        s.close()
    assert o.accepted and o.dispatch_id == "d1"
    assert seen[0].headers["authorization"] == "Bearer secret-key"
    assert orjson.loads(seen[0].content)["recipients"] == [
        {"external_user_id": "a"},
        {"external_user_id": "b"},
    ]


def test_transient_errors_are_retried_until_success() -> None:
    calls = {"n": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("refused")
        if calls["n"] < 4:
            return httpx.Response(503, json={"message": "busy"})
        return httpx.Response(201, json={"message": "success"})

    s, q, m = make_sender(handler)
    try:
        s.submit(batch(["a"]))
        (o,) = outcomes(q, 1)
    finally:
        s.close()
    assert o.accepted and o.attempts == 4
    assert (
        m.registry.get_sample_value(
            "bridge_retries_total", {"endpoint": "/campaigns/trigger/send", "reason": "server_503"}
        )
        == 2
    )


def test_retries_give_up_after_max_elapsed_with_last_error() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"message": "Internal Server Error"})

    s, q, _ = make_sender(
        handler, retry={"initial_backoff_ms": 50, "max_backoff_ms": 100, "max_elapsed_s": 0.3}
    )
    try:
        s.submit(batch(["a"]))
        (o,) = outcomes(q, 1)
    finally:
        s.close()
    assert not o.accepted and o.reason == "retries_exhausted" and o.status == 500
    assert "Internal Server Error" in o.message


def test_bisection_isolates_the_poison_recipient() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        ids = [r["external_user_id"] for r in orjson.loads(req.content)["recipients"]]
        if "poison" in ids:
            return httpx.Response(400, json={"message": "Bad Request"})
        return httpx.Response(201, json={"message": "success"})

    s, q, _ = make_sender(handler)
    ids = [f"u{i}" for i in range(10)]
    ids[7] = "poison"
    try:
        s.submit(batch(ids))
        got: list[Outcome] = []
        while sum(len(o.batch) for o in got) < 10:
            got.extend(outcomes(q, 1))
    finally:
        s.close()
    rejected = [i.identity for o in got if not o.accepted for i in o.batch.items]
    accepted = [i.identity for o in got if o.accepted for i in o.batch.items]
    assert rejected == ["poison"]
    assert sorted(accepted) == sorted(set(ids) - {"poison"})


def test_request_level_400_is_not_bisected() -> None:
    calls = {"n": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(400, json={"message": "Invalid Campaign ID"})

    s, q, _ = make_sender(handler)
    try:
        s.submit(batch(["a", "b", "c", "d"]))
        (o,) = outcomes(q, 1)
    finally:
        s.close()
    assert not o.accepted and len(o.batch) == 4 and calls["n"] == 1


def test_401_halts_then_resumes_without_dead_letters() -> None:
    state = {"ok": False}
    lock = threading.Lock()

    def handler(req: httpx.Request) -> httpx.Response:
        with lock:
            ok = state["ok"]
        if not ok:
            return httpx.Response(401, json={"message": "Invalid API key"})
        return httpx.Response(201, json={"message": "success"})

    s, q, m = make_sender(handler)
    try:
        s.submit(batch(["a"]))
        s.submit(batch(["b"]))
        first = q.get(timeout=5)
        assert isinstance(first, Control) and first.kind == "halt"
        assert m.registry.get_sample_value("bridge_halted", {"reason": "auth"}) == 1
        with lock:
            state["ok"] = True
        got: list[Any] = []
        while len([o for o in got if isinstance(o, Outcome)]) < 2:
            got.append(q.get(timeout=5))
    finally:
        s.close()
    assert any(isinstance(o, Control) and o.kind == "resume" for o in got)
    assert all(o.accepted for o in got if isinstance(o, Outcome))


def test_pacer_spreads_remaining_budget_until_reset() -> None:
    now = [1000.0]
    p = Pacer(reserve_fraction=0.1, clock=lambda: now[0])
    p.started("default")
    p.finished(
        "default",
        {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "50", "x-ratelimit-reset": "1040"},
        201,
    )
    assert p.delay("default") == 0.0  # first slot now; next in 40 s / (50 - 10) = 1 s
    assert abs(p.delay("default") - 1.0) < 1e-9
    now[0] += 1.0
    assert p.delay("default") == 0.0
    # a 429 closes the pool until the reset
    p.finished(
        "default",
        {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1040"},
        429,
    )
    assert abs(p.delay("default") - 39.0) < 1e-9


def test_pacer_waits_for_reset_when_only_the_reserve_is_left() -> None:
    now = [0.0]
    p = Pacer(reserve_fraction=0.1, clock=lambda: now[0])
    p.finished(
        "default",
        {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "10", "x-ratelimit-reset": "30"},
        201,
    )
    assert p.delay("default") >= 30.0


def test_pacer_ignores_late_answers_from_a_finished_window() -> None:
    now = [100.0]
    p = Pacer(reserve_fraction=0.1, clock=lambda: now[0])
    hdr = {"x-ratelimit-limit": "200", "x-ratelimit-remaining": "20", "x-ratelimit-reset": "100"}
    p.finished("default", hdr, 201)
    new = {"x-ratelimit-limit": "200", "x-ratelimit-remaining": "199", "x-ratelimit-reset": "105"}
    p.finished("default", new, 201)
    p.finished("default", hdr, 201)  # late answer of the old window
    assert p.pool("default").remaining == 199
    assert p.delay("default") == 0.0


def test_pacer_probes_one_request_at_a_time_until_numbers_arrive() -> None:
    p = Pacer(clock=lambda: 0.0)
    assert p.delay("default") == 0.0
    p.started("default")
    assert p.delay("default") > 0  # a second request waits for the first answer
    p.finished(
        "default",
        {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "99", "x-ratelimit-reset": "3600"},
        201,
    )
    assert p.delay("default") == 0.0


def test_pacer_does_not_throttle_a_server_without_rate_limit_headers() -> None:
    p = Pacer(clock=lambda: 0.0)
    p.delay("default")
    p.started("default")
    p.finished("default", {"content-type": "application/json"}, 201)
    p.started("default")
    assert p.delay("default") == 0.0


def test_bodies_over_4mb_are_split_and_a_lone_oversized_item_is_never_sent() -> None:
    sizes: list[int] = []

    def handler(req: httpx.Request) -> httpx.Response:
        sizes.append(len(req.content))
        return httpx.Response(201, json={"message": "success"})

    s, q, _ = make_sender(handler)
    big = batch([f"u{i}" for i in range(4)])
    for item in big.items:
        item.payload = {**item.payload, "attributes": {"bio": "x" * 1_500_000}}
    lone = batch(["huge"])
    lone.items[0].payload = {**lone.items[0].payload, "attributes": {"bio": "y" * 5_000_000}}
    try:
        s.submit(big)
        s.submit(lone)
        got: list[Outcome] = []
        while sum(len(o.batch) for o in got) < 5:
            got.extend(outcomes(q, 1))
    finally:
        s.close()
    assert all(n <= 4 * 1024 * 1024 for n in sizes) and len(sizes) >= 2
    rejected = [o for o in got if not o.accepted]
    assert [o.reason for o in rejected] == ["too_large"]
    assert rejected[0].batch.items[0].identity == "huge" and rejected[0].status is None


def test_the_httpx_transport_option_still_delivers() -> None:
    """``braze.http_transport: httpx`` (or a caller's transport) goes through httpx."""
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(201, json={"message": "success"})

    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    b = BrazeSettings.model_validate(
        {
            "rest_endpoint": "http://braze.test",
            "allow_insecure_http": True,
            "api_key": "secret-key",
            "http_transport": "httpx",
        }
    )
    s = Sender(b, DeliverySettings(), Metrics(), q.put, transport=httpx.MockTransport(handler))
    s.start()
    try:
        s.submit(batch(["a"]))
        (o,) = outcomes(q, 1)
    finally:
        s.close()
    assert o.accepted and seen[0].headers["authorization"] == "Bearer secret-key"


def test_an_answer_slower_than_the_read_timeout_is_retried_as_a_timeout() -> None:
    calls = {"n": 0}
    answered_late = threading.Event()

    def handler(req: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            answered_late.wait(2)  # longer than request_timeout_s: the sender gives up on it
        return httpx.Response(201, json={"message": "success"})

    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    m = Metrics()
    d = DeliverySettings.model_validate(
        {"retry": {"initial_backoff_ms": 1, "max_backoff_ms": 5, "max_elapsed_s": 5}}
    )
    b = BrazeSettings.model_validate(
        {
            "rest_endpoint": "http://braze.test",
            "allow_insecure_http": True,
            "api_key": "k",
            "request_timeout_s": 0.2,
        }
    )
    s = ServedSender(handler, b, d, m, q.put)
    s.start()
    try:
        s.submit(batch(["a"]))
        (o,) = outcomes(q, 1)
    finally:
        answered_late.set()
        s.close()
    assert o.accepted and o.attempts == 2
    retries = {"endpoint": "/campaigns/trigger/send", "reason": "timeout"}
    assert m.registry.get_sample_value("bridge_retries_total", retries) == 1
    for status_class, n in (("error", 1), ("2xx", 1)):
        labels = {"endpoint": "/campaigns/trigger/send", "status_class": status_class}
        assert m.registry.get_sample_value("bridge_requests_total", labels) == n, status_class


def test_backoff_is_full_jitter_under_a_doubling_cap() -> None:
    retry = RetrySettings(initial_backoff_ms=100, max_backoff_ms=1000)
    for attempts, cap_s in ((0, 0.1), (1, 0.2), (3, 0.8), (4, 1.0), (30, 1.0)):
        pauses = [backoff_s(retry, attempts) for _ in range(200)]
        assert all(0 <= p <= cap_s for p in pauses), attempts
        assert max(pauses) > cap_s / 2, attempts  # spread over the whole range
    assert not exhausted(RetrySettings(max_elapsed_s=5), first_failure=100.0, now=105.0)
    assert exhausted(RetrySettings(max_elapsed_s=5), first_failure=100.0, now=105.1)


def test_batches_handed_over_together_wake_the_sender_once_and_all_arrive() -> None:
    """submit() from one poll-loop iteration: the sender thread is woken once (one write to
    its self-pipe), not once per batch, and every batch is still delivered and answered.
    A batch submitted after the sender took its inbox gets a wake-up of its own."""
    seen: list[str] = []
    gate = threading.Event()

    def handler(req: httpx.Request) -> httpx.Response:
        gate.wait(5)
        seen.append(orjson.loads(req.content)["recipients"][0]["external_user_id"])
        return httpx.Response(201, json={"message": "success"})

    s, q, _ = make_sender(handler)
    wakes = 0
    real = s._loop.call_soon_threadsafe

    def counting(cb: Any, *args: Any) -> Any:
        nonlocal wakes
        wakes += 1
        return real(cb, *args)

    s._loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:
        blocker = threading.Event()
        s._loop.call_soon_threadsafe(lambda: blocker.wait(5))  # hold the sender thread
        wakes = 0
        for n in range(20):
            s.submit(batch([f"u{n}"]))
        assert wakes == 1 and s.in_flight == 20
        blocker.set()
        gate.set()
        first = outcomes(q, 20)
        s.submit(batch(["late"]))
        (late,) = outcomes(q, 1)
        assert wakes == 2
    finally:
        s.close()
    assert all(o.accepted for o in first) and late.accepted
    assert sorted(seen) == sorted([f"u{n}" for n in range(20)] + ["late"])
