"""Several Braze workspaces in one deployment: configuration, routing, per-workspace halts,
offsets when one event feeds two workspaces, state keys and metrics.

The loop tests run the real loop (built by the composition root) around the fake consumer
and producer of ``tests/support/fakes.py`` with one fake sender per workspace; the last test
runs the real senders against two local HTTP servers, one of which answers 401 for a while.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from bridge import app
from bridge.cli.main import main as cli_main
from bridge.deliver.sender import Control, Outcome, Sender
from bridge.errors import ConfigError
from bridge.ops.health import HealthState
from bridge.ops.metrics import Metrics
from bridge.processing.router import WorkspaceSenders
from bridge.ruleset import compile_rules
from bridge.schedules import workspace_key
from bridge.sendids import ensure_send_ids, send_id_key
from bridge.settings import Settings, endpoint_warnings, parse_settings, secret_values
from tests.support.fakes import FakeConsumer, FakeMessage, FakeProducer, FakeSender, build_rig
from tests.support.http import serve
from tests.support.wait import wait_for

ENV = {"KEY_US": "key-us-123", "KEY_EU": "key-eu-456", "BRAZE_API_KEY": "key-single"}


def rule(name: str, workspace: str | None, campaign: str, **extra: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "name": name,
        "topic": "orders",
        "action": "campaign_trigger",
        "campaign_id": campaign,
        "recipient": {"external_user_id": "$.user"},
        **extra,
    }
    if workspace is not None:
        r["workspace"] = workspace
    return r


RULES = [rule("to-us", "us", "c-us"), rule("to-eu", "eu", "c-eu")]


def raw_config(
    rules: list[dict[str, Any]] | None = None,
    us: str = "https://rest.iad-01.braze.com",
    eu: str = "https://rest.fra-01.braze.eu",
    **braze: Any,
) -> dict[str, Any]:
    return {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092"},
        "braze": {
            "workspaces": {
                "us": {"rest_endpoint": us, "api_key": "${KEY_US}"},
                "eu": {"rest_endpoint": eu, "api_key": "${KEY_EU}"},
            },
            **braze,
        },
        "rules": rules if rules is not None else RULES,
    }


def load(raw: dict[str, Any]) -> Settings:
    raw = yaml.safe_load(yaml.safe_dump(raw))  # a deep copy, as if read from a file
    return parse_settings(raw, file="bridge.yaml", environ=ENV, base_dir=Path("."))


# -- configuration -------------------------------------------------------------------------
def test_the_single_braze_block_is_the_workspace_default() -> None:
    s = load(
        {
            "kafka": {"bootstrap_servers": "x:1"},
            "braze": {"rest_endpoint": "http://127.0.0.1:4010", "api_key": "${BRAZE_API_KEY}"},
            "rules": [rule("a", None, "c")],
        }
    )
    assert list(s.braze.by_name()) == ["default"]
    assert s.workspace_of(s.rules[0]) == "default"
    assert compile_rules(s).rules[0].build  # builds as before
    assert endpoint_warnings(s.braze) == [], "loopback (the sandbox) is no warning"


def test_workspaces_inherit_the_block_settings_and_keep_their_own() -> None:
    raw = raw_config(max_in_flight=4, request_timeout_s=7.0)
    raw["braze"]["workspaces"]["eu"]["max_in_flight"] = 9
    s = load(raw)
    ws = s.braze.by_name()
    assert (ws["us"].max_in_flight, ws["us"].request_timeout_s) == (4, 7.0)
    assert (ws["eu"].max_in_flight, ws["eu"].request_timeout_s) == (9, 7.0)
    assert ws["eu"].rest_endpoint == "https://rest.fra-01.braze.eu"
    assert ws["eu"].api_key.get_secret_value() == "key-eu-456"
    assert [s.workspace_of(r) for r in s.rules] == ["us", "eu"]


@pytest.mark.parametrize(
    ("rules", "field", "reason"),
    [
        ([rule("a", None, "c")], "rules[0].workspace", "none is named 'default'"),
        ([rule("a", "us", "c"), rule("b", "apac", "c")], "rules[1].workspace", "'apac'"),
    ],
)
def test_a_rule_without_a_resolvable_workspace_is_a_config_error(
    rules: list[dict[str, Any]], field: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        load(raw_config(rules))
    assert exc.value.field == field and exc.value.file == "bridge.yaml"
    assert reason in exc.value.reason


def test_a_workspace_named_default_takes_rules_without_a_workspace() -> None:
    raw = raw_config([rule("a", None, "c"), rule("b", "eu", "c")])
    raw["braze"]["workspaces"]["default"] = raw["braze"]["workspaces"].pop("us")
    s = load(raw)
    assert [s.workspace_of(r) for r in s.rules] == ["default", "eu"]


def test_each_workspace_key_must_be_a_reference_and_is_scrubbed() -> None:
    raw = raw_config()
    raw["braze"]["workspaces"]["eu"]["api_key"] = "literal-key"
    with pytest.raises(ConfigError) as exc:
        load(raw)
    assert exc.value.field == "braze.workspaces.eu.api_key"
    assert "literal-key" not in str(exc.value)
    assert {"key-us-123", "key-eu-456"} <= set(secret_values(load(raw_config())))


def test_endpoint_and_key_beside_workspaces_is_a_config_error() -> None:
    raw = raw_config(rest_endpoint="https://rest.iad-01.braze.com")
    with pytest.raises(ConfigError) as exc:
        load(raw)
    assert exc.value.field == "braze" and "inside each workspace" in exc.value.reason


def test_check_warns_about_each_endpoint_that_is_no_braze_instance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(yaml.safe_dump(raw_config(eu="https://rest.lon-01.braze.com")))
    assert cli_main(["check", "-c", str(cfg)]) == 0
    cap = capsys.readouterr()
    out, err = cap.out, cap.err  # warnings go to stderr
    assert "warning: braze.workspaces.eu.rest_endpoint: rest.lon-01.braze.com is not a Braze" in err
    assert "braze.workspaces.us" not in err, "rest.iad-01.braze.com is an instance"
    assert "to-eu  orders -> campaign_trigger c-eu  [workspace eu]" in out


# -- the loop with one fake sender per workspace ------------------------------------------
class Rig:
    """:func:`build_rig` with one fake sender per workspace (``us``, ``eu``) and partition
    ``orders[0]`` assigned."""

    def __init__(self, s: Settings, state: Any = None) -> None:
        senders: dict[str, FakeSender] = {}

        def per_workspace(outcomes: queue.SimpleQueue[Outcome | Control]) -> WorkspaceSenders:
            senders.update(us=FakeSender(outcomes), eu=FakeSender(outcomes))
            return WorkspaceSenders(dict(senders))

        rig = build_rig(s, state=state, sender=per_workspace)
        self.us, self.eu = senders["us"], senders["eu"]
        self.loop, self.consumer, self.producer = rig.loop, rig.consumer, rig.producer
        self.metrics, self.health, self.outcomes = rig.metrics, rig.health, rig.outcomes
        self.consumer.assign("orders", 0)

    def poll(self, times: int = 1) -> None:
        for _ in range(times):
            self.loop.poll_once(0.0, 500)

    def metric(self, name: str, labels: dict[str, str]) -> float:
        return float(self.metrics.registry.get_sample_value(name, labels) or 0.0)

    def halt(self, workspace: str, kind: str = "halt") -> None:
        self.outcomes.put(Control(kind, "auth", "Braze answered 401", workspace=workspace))


def msg(offset: int, **fields: Any) -> FakeMessage:
    doc = {"user": f"u{offset}", **fields}
    return FakeMessage("orders", 0, offset, orjson.dumps(doc))


def test_each_rule_goes_to_its_workspace_sender_and_requests_never_mix() -> None:
    r = Rig(load(raw_config()))
    r.consumer.then([msg(0), msg(1)])
    r.poll()
    r.loop.flush()
    assert [b.body()["campaign_id"] for b in r.us.batches] == ["c-us"]
    assert [b.body()["campaign_id"] for b in r.eu.batches] == ["c-eu"]
    assert {b.shape.workspace for b in r.us.batches} == {"us"}
    assert len(r.us.batches[0]) == len(r.eu.batches[0]) == 2


def test_a_halted_workspace_holds_its_events_while_the_other_keeps_flowing() -> None:
    """eu answers 401: us's items are delivered; nothing is dead-lettered; fetching goes on;
    the commit waits at the first event eu still owes; after eu resumes everything commits."""
    both = {"when": {"to": "both"}}
    r = Rig(load(raw_config([rule("to-us", "us", "c-us"), rule("to-eu", "eu", "c-eu", **both)])))
    r.halt("eu")
    r.consumer.then([msg(0, to="both"), msg(1, to="both")])
    r.poll()
    r.loop.flush()
    assert r.consumer.paused == set(), "one halted workspace does not pause fetching"
    assert r.health.ready()[0] is True, "ready while a workspace can deliver"
    assert r.metric("bridge_halted", {"reason": "auth"}) == 0
    r.us.answer_all()  # us delivers; eu's batch waits in its (halted) sender
    r.poll()
    assert r.metric("bridge_workspace_recipients_sent_total", {"workspace": "us"}) == 2
    assert r.consumer.committed().get(("orders", 0), 0) == 0, "eu still owes events 0 and 1"
    # Later events that only us's rule matches: delivered, but the commit still waits at 0.
    r.consumer.then([msg(2), msg(3)])
    r.poll()
    r.loop.flush()
    r.us.answer_all()
    r.poll()
    assert r.metric("bridge_workspace_recipients_sent_total", {"workspace": "us"}) == 4
    assert r.consumer.committed().get(("orders", 0), 0) == 0
    assert r.producer.records == [], "nothing dead-lettered"
    # eu resumes: its waiting batch is delivered and the partition commits past everything.
    r.halt("eu", "resume")
    r.eu.answer_all()
    r.poll()
    assert r.consumer.committed() == {("orders", 0): 4}
    assert r.metric("bridge_workspace_recipients_sent_total", {"workspace": "eu"}) == 2
    assert r.metric("bridge_workspace_recipients_sent_total", {"workspace": "us"}) == 4
    assert r.producer.records == []


def test_every_workspace_halted_pauses_fetching_and_is_not_ready() -> None:
    r = Rig(load(raw_config()))
    r.halt("us")
    r.halt("eu")
    r.poll()
    assert r.consumer.paused == {("orders", 0)}
    assert r.health.ready()[0] is False
    assert r.metric("bridge_halted", {"reason": "auth"}) == 1
    r.halt("us", "resume")
    r.poll()
    assert r.consumer.paused == set(), "us can deliver again"
    assert r.health.ready()[0] is True
    assert r.metric("bridge_halted", {"reason": "auth"}) == 0


def test_back_pressure_still_bounds_what_a_halted_workspace_holds() -> None:
    raw = raw_config([rule("to-eu", "eu", "c-eu")])
    raw["kafka"]["max_events_in_flight"] = 100
    r = Rig(load(raw))
    r.halt("eu")
    r.consumer.then([msg(i) for i in range(101)])
    r.poll(2)
    assert r.consumer.paused == {("orders", 0)}, "101 unfinished events > 100"
    assert r.health.ready()[0] is True, "back-pressure is not a halt"


class Store:
    """The part of the state store the schedule coordinator and send-id creation use."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any, on_done: Any = None) -> None:
        self.data[key] = value
        if on_done:
            on_done()

    def flush(self, timeout: float) -> int:
        return 0

    def poll(self) -> None:
        return None


def test_schedule_state_keys_carry_the_workspace_except_for_default() -> None:
    assert workspace_key("default", "schedule/s/k1") == "schedule/s/k1"
    sched = {
        "action": "campaign_schedule",
        "schedule": {"name": "promo", "key": "$.user", "time": "2099-01-01T10:00:00Z"},
    }
    raw = raw_config([rule("s-us", "us", "c-us", **sched), rule("s-eu", "eu", "c-eu", **sched)])
    store = Store()
    r = Rig(load(raw), state=store)
    r.consumer.then([msg(0)])
    r.poll()
    for sender, ws in ((r.us, "us"), (r.eu, "eu")):
        assert [b.shape.workspace for b in sender.batches] == [ws]
        for b in sender.batches:
            r.outcomes.put(Outcome.success(b, status=201, response={"schedule_id": f"id-{ws}"}))
    r.poll()
    assert store.data["workspace/us/schedule/promo/u0"]["schedule_id"] == "id-us"
    assert store.data["workspace/eu/schedule/promo/u0"]["schedule_id"] == "id-eu"
    assert "schedule/promo/u0" not in store.data, "the two workspaces' schedules never collide"


def test_send_ids_are_created_in_each_rules_workspace_and_keyed_by_it() -> None:
    seen: list[tuple[str, str]] = []

    def braze(req: httpx.Request) -> httpx.Response:
        seen.append((req.url.host, req.headers["authorization"]))
        return httpx.Response(201, json={"message": "success"})

    raw = raw_config(
        [rule("a", "us", "c1", send_id="s1"), rule("b", "eu", "c1", send_id="s1")],
    )
    s = load(raw)
    store = Store()
    assert ensure_send_ids(s, store, httpx.MockTransport(braze)) == 2  # type: ignore[arg-type]
    assert sorted(seen) == [
        ("rest.fra-01.braze.eu", "Bearer key-eu-456"),
        ("rest.iad-01.braze.com", "Bearer key-us-123"),
    ]
    assert set(store.data) == {send_id_key("us", "c1", "s1"), send_id_key("eu", "c1", "s1")}
    assert send_id_key("default", "c1", "s1") == "send_id/c1/s1", "today's key"
    assert ensure_send_ids(s, store, httpx.MockTransport(braze)) == 0  # type: ignore[arg-type]


# -- real senders, one per workspace, against two local HTTP servers -----------------------
class Workspace:
    """A local Braze stand-in that can refuse the key (401) until told otherwise."""

    def __init__(self) -> None:
        self.refuse = threading.Event()
        self.accepted: list[str] = []
        self.refused = 0
        self._lock = threading.Lock()

    def __call__(self, req: httpx.Request) -> httpx.Response:
        with self._lock:
            if self.refuse.is_set():
                self.refused += 1
                return httpx.Response(401, json={"message": "Invalid API key"})
            body = orjson.loads(req.content)
            self.accepted += [r["external_user_id"] for r in body["recipients"]]
        return httpx.Response(201, json={"dispatch_id": "d", "message": "success"})


def test_real_senders_a_401_halts_one_workspace_only_and_it_resumes_by_probing() -> None:
    us, eu = Workspace(), Workspace()
    eu.refuse.set()
    with serve(us) as us_url, serve(eu) as eu_url:
        raw = raw_config(us=us_url, eu=eu_url)
        raw["delivery"] = {"halt_probe_interval_s": 0.2}
        raw["batching"] = {"linger_ms": 0}
        s = load(raw)
        metrics = Metrics()
        outcomes: queue.SimpleQueue[Outcome | Control] = queue.SimpleQueue()
        senders = app.make_senders(s, metrics, outcomes)
        assert isinstance(senders, WorkspaceSenders)
        assert all(isinstance(x, Sender) for x in senders.senders.values())
        consumer = FakeConsumer(lambda err, parts: None)
        producer = FakeProducer()
        loop = app.build(
            s,
            compile_rules(s),
            metrics,
            HealthState(metrics, 30.0),
            base_dir=Path("."),
            consumer=consumer,
            producer=producer,  # type: ignore[arg-type]
            sender=senders,
            outcomes=outcomes,
        )
        consumer.on_commit = loop.committer.on_commit
        loop.start()
        try:
            consumer.assign("orders", 0)
            consumer.then([msg(i) for i in range(5)])

            def tick() -> None:
                loop.poll_once(0.0, 500)
                loop.flush()

            def us_done() -> bool:
                tick()
                return len(us.accepted) == 5

            wait_for("us delivers while eu answers 401", us_done, 20)
            wait_for("eu's sender to halt", lambda: (tick(), loop.flow.halted_workspaces)[1], 10)
            assert loop.flow.halted_workspaces["auth"] == {"eu"}
            assert consumer.paused == set()
            halted = metrics.registry.get_sample_value(
                "bridge_workspace_halted", {"workspace": "eu", "reason": "auth"}
            )
            assert halted == 1
            assert consumer.committed().get(("orders", 0), 0) == 0, "eu owes events 0..4"
            wait_for("eu to be probed", lambda: eu.refused >= 2, 10)
            eu.refuse.clear()

            def all_committed() -> bool:
                tick()
                return consumer.committed().get(("orders", 0)) == 5

            wait_for("eu to resume and the partition to commit", all_committed, 20)
            assert sorted(eu.accepted) == [f"u{i}" for i in range(5)]
            assert sorted(us.accepted) == [f"u{i}" for i in range(5)], "us sent each once"
            assert producer.records == [], "nothing dead-lettered"
            assert loop.flow.halted_workspaces["auth"] == set()
        finally:
            loop.sender.close()


def test_a_reload_that_adds_a_workspace_is_refused_and_the_rules_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge.reload import Reloader

    for k, v in {**ENV, "KEY_APAC": "key-apac"}.items():
        monkeypatch.setenv(k, v)
    r = Rig(load(raw_config()))
    cfg = tmp_path / "bridge.yaml"
    raw = raw_config([*RULES, rule("to-apac", "apac", "c-apac")])
    raw["braze"]["workspaces"]["apac"] = {
        "rest_endpoint": "https://rest.au-01.braze.com",
        "api_key": "${KEY_APAC}",
    }
    cfg.write_text(yaml.safe_dump(raw))
    running = r.loop.rules
    assert Reloader(cfg, r.loop, r.metrics).reload() is False
    assert r.metric("bridge_config_reloads_total", {"result": "failed"}) == 1
    r.consumer.then([msg(0)])
    r.poll()
    assert r.loop.rules is running, "the running rules stay"
    r.loop.flush()
    assert len(r.us.batches) == len(r.eu.batches) == 1, "and keep delivering"
    # The same workspaces with a rule moved between them reload fine.
    cfg.write_text(yaml.safe_dump(raw_config([rule("to-us", "eu", "c-us")])))
    assert Reloader(cfg, r.loop, r.metrics).reload() is True


def test_one_workspaces_circuit_breaker_holds_only_its_requests() -> None:
    """eu's campaign is gone (every eu request rejected): eu's breaker opens and holds eu's
    requests for probe_interval_s; us keeps flowing, fetching is not paused; then eu's held
    requests are sent again (half-open)."""
    raw = raw_config()
    raw["delivery"] = {
        "circuit_breaker": {"min_events": 10, "max_dead_letter_ratio": 0.5, "probe_interval_s": 30}
    }
    r = Rig(load(raw))
    r.consumer.then([msg(i) for i in range(12)])
    r.poll()
    r.loop.flush()
    r.us.answer_all()
    r.eu.answer_all(accepted=False, status=400, reason="bad_request")
    r.poll(2)
    assert len(r.producer.records) == 12, "eu's 12 recipients dead-lettered"
    halted = {"workspace": "eu", "reason": "circuit_breaker"}
    assert r.metric("bridge_workspace_halted", halted) == 1
    assert r.metric("bridge_circuit_breaker_open", {}) == 0, "not the process-wide breaker"
    assert r.consumer.paused == set()
    r.consumer.then([msg(i) for i in range(12, 15)])
    r.poll()
    r.loop.flush()
    assert [len(b) for b in r.us.batches] == [3], "us keeps flowing"
    assert r.eu.batches == [], "eu's requests are held while its breaker is open"
    r.us.answer_all()
    r.poll()
    assert r.metric("bridge_workspace_recipients_sent_total", {"workspace": "us"}) == 15
    assert r.consumer.committed() == {("orders", 0): 12}, "the held events are not final"
    r.loop.clock.advance(30)
    r.poll(2)  # the tick that half-opens the breaker, then the next one sends what was held
    assert [len(b) for b in r.eu.batches] == [3], "half-open: the held request is sent"
    assert r.metric("bridge_workspace_halted", halted) == 0
    r.eu.answer_all()
    r.poll()
    assert r.consumer.committed() == {("orders", 0): 15}
    assert len(r.producer.records) == 12
