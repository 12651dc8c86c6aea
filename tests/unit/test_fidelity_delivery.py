"""Issue 12, delivery side: no bisection storms on request-level 400s, 404 halts, 2xx with
errors[] marks the affected items, a send id Braze says exists counts as created."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from bridge.actions.base import Item, Shape
from bridge.batch import Batch
from bridge.deliver import classify as C
from bridge.deliver.sender import Control, Outcome, Sender
from bridge.errors import ConfigError
from bridge.models import Record
from bridge.offsets import InFlight, PartitionTracker
from bridge.ops.metrics import Metrics
from bridge.sandbox.options import SandboxOptions
from bridge.sandbox.server import SandboxServer
from bridge.sendids import ensure_send_ids
from bridge.settings import BrazeSettings, DeliverySettings
from tests.unit.helpers import settings
from tests.unit.served_sender import ServedSender

KEY = "fidelity-key"


# ------------------------------------------------------------------ helpers


def _delivery(**extra: Any) -> DeliverySettings:
    return DeliverySettings.model_validate(
        {
            "retry": {"initial_backoff_ms": 1, "max_backoff_ms": 5, "max_elapsed_s": 2},
            "halt_probe_interval_s": 0.05,
            **extra,
        }
    )


def _sender(
    url: str = "http://braze.test", handler: Any = None
) -> tuple[Sender, queue.SimpleQueue[Outcome | Control], Metrics]:
    """The production sender (lean transport) against ``url``, or against a local server
    answering with ``handler``."""
    q: queue.SimpleQueue[Outcome | Control] = queue.SimpleQueue()
    m = Metrics()
    b = BrazeSettings.model_validate(
        {"rest_endpoint": url, "api_key": KEY, "max_in_flight": 4, "allow_insecure_http": True}
    )
    if handler is None:
        s = Sender(b, _delivery(), m, q.put)
    else:
        s = ServedSender(handler, b, _delivery(), m, q.put)
    s.start()
    return s, q, m


def _batch(shape: Shape, payloads: list[Any], identities: list[Any] | None = None) -> Batch:
    tr = PartitionTracker("t", 0, InFlight())
    b = Batch(shape, 0.0)
    for i, p in enumerate(payloads):
        t = tr.track(Record("t", 0, i, None, b"", (), 0), 1)
        t.add()
        ident = identities[i] if identities else ("x", p)
        b.items.append(Item(t, "r", shape, ident, p))
    return b


def _outcomes(q: queue.SimpleQueue[Outcome | Control], items: int) -> list[Outcome]:
    """Outcomes until they cover ``items`` items (bisection may split a batch)."""
    got: list[Outcome] = []
    while sum(len(o.batch) for o in got) < items:
        o = q.get(timeout=10)
        if isinstance(o, Outcome):
            got.append(o)
    return got


@pytest.fixture
def sandbox() -> Iterator[str]:
    srv = SandboxServer(SandboxOptions(api_key=KEY))
    url = srv.start_in_thread()
    try:
        yield url
    finally:
        srv.stop()


def _received(url: str, path: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/_sandbox/requests", params={"path": path})
    out: list[dict[str, Any]] = r.json()["requests"]
    return out


USERS = [f"user-{i}" for i in range(16)]


def _message_shape(messages: dict[str, Any], campaign: bool) -> Shape:
    base: dict[str, Any] = {"messages": messages}
    if campaign:
        base["campaign_id"] = "camp-1"
    return Shape.make("POST", "/messages/send", base, "external_user_ids", 50, "default")


# ------------------------------------------------------------------ item 2: bisection storms


@pytest.mark.parametrize(
    ("messages", "campaign", "braze_message"),
    [
        (
            {"email": {"app_id": "a", "subject": "s", "body": "b"}},
            True,
            "Message Variant Unspecified",
        ),
        ({"apple_push": {"alert": "x" * 2000}}, False, "Apple Push Length Exceeded"),
        (
            {"android_push": {"alert": "hi", "extra": "not-a-dict"}},
            False,
            "Invalid Extra Push Payload",
        ),
    ],
)
def test_shared_content_400_is_one_request_not_a_bisection_storm(
    sandbox: str, messages: dict[str, Any], campaign: bool, braze_message: str
) -> None:
    s, q, _ = _sender(sandbox)
    try:
        s.submit(_batch(_message_shape(messages, campaign), USERS))
        got = _outcomes(q, len(USERS))
    finally:
        s.close()
    sent = _received(sandbox, "/messages/send")
    # Before: 16 recipients -> 31 failing requests (bisected down to single recipients).
    assert len(sent) == 1, [r.get("status") for r in sent]
    assert len(got) == 1
    (o,) = got
    assert not o.accepted and o.status == 400 and o.message == braze_message
    assert sorted(i.payload for i in o.batch.items) == sorted(USERS)


def test_a_poisoned_recipient_is_still_isolated_by_bisection(sandbox: str) -> None:
    httpx.post(
        f"{sandbox}/_sandbox/faults",
        json={"poison_ids": ["user-5"]},
        headers={"Authorization": f"Bearer {KEY}"},
    ).raise_for_status()
    s, q, _ = _sender(sandbox)
    try:
        s.submit(_batch(_message_shape({"email": {"app_id": "a", "body": "b"}}, False), USERS))
        got = _outcomes(q, len(USERS))
    finally:
        s.close()
    rejected = [i.payload for o in got if not o.accepted for i in o.batch.items]
    accepted = [i.payload for o in got if o.accepted for i in o.batch.items]
    assert rejected == ["user-5"]
    assert sorted(accepted) == sorted(set(USERS) - {"user-5"})


def test_rejection_scope_reads_brazes_documented_messages() -> None:
    for m in (
        "Invalid Campaign ID",
        "No Recipients",
        "Message Variant Unspecified",
        "Invalid Message Variant",
        "Mismatched Message Type",
        "Invalid Extra Push Payload",
        "No message to send",
        "Slideup Message Length Exceeded",
        "Apple Push Length Exceeded",
        "Android Push Length Exceeded",
    ):
        assert C.rejection_scope({"message": m}) == "request", m
        assert C.classify(400, {"message": m, "errors": ["x"]}).scope == "request"
    assert (
        C.rejection_scope(
            {"message": "The max number of external_ids and aliases per request was exceeded"}
        )
        == "count"
    )
    # A generic Bad Request, or a text Braze does not document, may concern one recipient.
    assert C.rejection_scope({"message": "Bad Request"}) == "recipient"
    # Words are not enough: the old word list took any text naming a "campaign" as shared.
    odd = {"message": "recipients[3]: campaign attribute invalid"}
    assert C.rejection_scope(odd) == "recipient"


# ------------------------------------------------------------------ item 5: 404 halts


TRIGGER = Shape.make(
    "POST",
    "/campaigns/trigger/send",
    {"campaign_id": "c", "broadcast": False},
    "recipients",
    50,
    "default",
)


def test_404_on_a_fixed_path_halts_probes_and_resumes_without_dead_letters() -> None:
    state = {"ok": False}
    lock = threading.Lock()
    seen: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        with lock:
            seen.append(req.url.path)
            ok = state["ok"]
        if not ok:
            return httpx.Response(404, text="<html>Not Found</html>")
        return httpx.Response(201, json={"message": "success", "dispatch_id": "d"})

    s, q, m = _sender(handler=handler)
    try:
        s.submit(_batch(TRIGGER, [{"external_user_id": "a"}, {"external_user_id": "b"}]))
        s.submit(_batch(TRIGGER, [{"external_user_id": "c"}]))
        first = q.get(timeout=5)
        assert isinstance(first, Control) and first.kind == "halt"
        assert first.reason == "endpoint" and "rest_endpoint" in first.message
        assert m.registry.get_sample_value("bridge_halted", {"reason": "endpoint"}) == 1
        with lock:
            state["ok"] = True
        got: list[Outcome | Control] = []
        while len([o for o in got if isinstance(o, Outcome)]) < 2:
            got.append(q.get(timeout=5))
    finally:
        s.close()
    outcomes = [o for o in got if isinstance(o, Outcome)]
    assert all(o.accepted for o in outcomes), [o.reason for o in outcomes]
    assert any(isinstance(o, Control) and o.kind == "resume" for o in got)
    assert m.registry.get_sample_value("bridge_halted", {"reason": "endpoint"}) == 0


def test_404_on_live_activity_update_is_a_per_activity_rejection() -> None:
    assert C.classify(404, {"error": "x"}, path="/messages/live_activity/update").verdict is (
        C.Verdict.REJECT
    )
    assert C.classify(404, None, path="/campaigns/trigger/send").verdict is C.Verdict.HALT


# ------------------------------------------------------------------ item 6: 2xx with errors[]


def _partial_outcome(errors: list[Any]) -> Outcome:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(
            201, json={"message": "success", "dispatch_id": "d", "errors": errors}
        )

    s, q, m = _sender(handler=handler)
    ids = ["u-1", "u-2", "u-10"]
    try:
        s.submit(_batch(TRIGGER, [{"external_user_id": u} for u in ids], [("x", u) for u in ids]))
        (o,) = _outcomes(q, 3)
    finally:
        s.close()
    assert m.registry.get_sample_value(
        "bridge_partial_errors_total", {"endpoint": "/campaigns/trigger/send"}
    ) == len(errors)
    return o


def test_2xx_errors_naming_a_recipient_mark_only_that_item() -> None:
    o = _partial_outcome(["external_user_id u-1 has no push token"])
    assert o.accepted and o.reason == "partial"
    # "u-1" as a whole token: not "u-10".
    assert o.partial_items == (0,)
    assert o.partial_errors == ["external_user_id u-1 has no push token"]


def test_2xx_errors_naming_nobody_mark_the_whole_batch() -> None:
    o = _partial_outcome(["Invalid trigger property value", {"code": 7}])
    assert o.partial_items == (0, 1, 2)
    assert o.partial_errors == ["Invalid trigger property value", '{"code":7}']


def test_affected_items_matches_aliases_and_emails_case_insensitively() -> None:
    ids = [("a", "anon-1", "shop"), ("e", "ada@example.com"), ("x", "7")]
    assert C.affected_items(ids, ["alias anon-1 unknown"]) == (0,)
    assert C.affected_items(ids, ["ADA@example.com bounced"]) == (1,)
    assert C.affected_items(ids, ["user 77 missing"]) is None  # names nobody: all affected
    assert C.affected_items(ids, []) == ()


# ------------------------------------------------------------------ item 7: send-id re-creation


class _Store:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value

    def flush(self, timeout: float) -> None:
        pass


_RULE = {
    "name": "shipped",
    "topic": "orders",
    "action": "campaign_trigger",
    "campaign_id": "camp-1",
    "send_id": "shipments-2026",
    "recipient": {"external_user_id": "$.user.id"},
}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"message": "send_id already exists for this campaign"}),
        (409, {"message": "Conflict"}),
        (400, {"message": "Bad Request", "errors": ["duplicate send_id"]}),
    ],
)
def test_send_id_that_braze_says_exists_counts_as_created(status: int, body: Any) -> None:
    calls: list[Any] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(orjson.loads(req.content))
        return httpx.Response(status, json=body)

    store = _Store()
    ensure_send_ids(settings([_RULE]), store, httpx.MockTransport(handler))  # type: ignore[arg-type]
    assert calls == [{"campaign_id": "camp-1", "send_id": "shipments-2026"}]
    assert store.get("send_id/camp-1/shipments-2026") is not None


def test_other_send_id_refusals_still_fail_start_up() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"message": "Invalid Campaign ID"})

    store = _Store()
    with pytest.raises(ConfigError, match="Invalid Campaign ID"):
        ensure_send_ids(settings([_RULE]), store, httpx.MockTransport(handler))  # type: ignore[arg-type]
    assert store.get("send_id/camp-1/shipments-2026") is None


# ------------------------------------------------------------------ item 12: generated send ids

_GEN_RULE = {
    "name": "gen-unit",
    "topic": "orders",
    "action": "campaign_trigger",
    "campaign_id": "camp-gen-unit",
    "generate_send_id": True,
    "recipient": {"external_user_id": "$.user.id"},
}


def test_braze_generates_the_send_id_once_and_the_rule_sends_it() -> None:
    from bridge.ruleset import compile_rules
    from tests.unit.helpers import event

    calls: list[Any] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(orjson.loads(req.content))
        return httpx.Response(201, json={"message": "success", "send_id": "gen-7f3a"})

    cfg = settings([_GEN_RULE])
    store = _Store()
    (rule,) = compile_rules(cfg).rules
    before, _, _ = rule.build_checked(event({"user": {"id": "u1"}}))
    # Outside `run` (check, preview, golden tests) a placeholder stands in.
    assert before.base["send_id"] == "<send_id generated by Braze at start-up>"
    assert ensure_send_ids(cfg, store, httpx.MockTransport(handler)) == 1  # type: ignore[arg-type]
    assert calls == [{"campaign_id": "camp-gen-unit"}]  # no send_id: Braze chooses it
    assert store.get("send_id_generated/camp-gen-unit/gen-unit")["send_id"] == "gen-7f3a"
    shape, _, _ = rule.build_checked(event({"user": {"id": "u1"}}))
    assert shape.base["send_id"] == "gen-7f3a"
    # A restart reads it from the state topic: Braze is not asked again.
    assert ensure_send_ids(cfg, store, httpx.MockTransport(handler)) == 0  # type: ignore[arg-type]
    assert len(calls) == 1


def test_a_generate_send_id_failure_stops_start_up_with_the_field_named() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"message": "Rate limit exceeded"})

    rule = {**_GEN_RULE, "name": "gen-unit-429", "campaign_id": "camp-gen-429"}
    with pytest.raises(ConfigError, match="100 new send ids per day") as info:
        ensure_send_ids(settings([rule]), _Store(), httpx.MockTransport(handler))  # type: ignore[arg-type]
    assert info.value.field == "rules[0].generate_send_id"


def test_the_sender_never_sends_the_generated_send_id_placeholder() -> None:
    calls: list[Any] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req)
        return httpx.Response(201, json={"message": "success"})

    shape = Shape.make(
        "POST",
        "/campaigns/trigger/send",
        {"campaign_id": "c", "send_id": "<send_id generated by Braze at start-up>"},
        "recipients",
        50,
        "default",
    )
    s, q, _ = _sender(handler=handler)
    try:
        s.submit(_batch(shape, [{"external_user_id": "a"}]))
        (o,) = _outcomes(q, 1)
    finally:
        s.close()
    assert not o.accepted and o.reason == "send_id_missing" and "restart" in o.message
    assert calls == []


def test_generate_send_id_needs_a_campaign_and_excludes_a_named_send_id() -> None:
    with pytest.raises(ConfigError, match="not both"):
        settings([{**_GEN_RULE, "send_id": "s1"}])
    with pytest.raises(ConfigError, match="generate_send_id needs campaign_id"):
        settings(
            [
                {
                    "name": "g",
                    "topic": "orders",
                    "action": "canvas_trigger",
                    "canvas_id": "cv",
                    "generate_send_id": True,
                    "recipient": {"external_user_id": "$.u"},
                }
            ]
        )
