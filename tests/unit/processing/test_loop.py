"""The poll loop with a fake consumer: what gets committed, paused, sent and dead-lettered."""

from __future__ import annotations

from typing import Any

import orjson

from bridge.deliver.sender import Control
from bridge.ruleset import compile_rules
from tests.support.fakes import FakeConsumer, FakeMessage, Rig, build_rig
from tests.unit.helpers import settings

RULE = {
    "name": "live",
    "topic": "orders",
    "when": {"type": "order.shipped"},
    "action": "campaign_trigger",
    "campaign_id": "c-live",
    "recipient": {"external_user_id": "$.user"},
    "trigger_properties": {"order_id": "$.order"},
}


def rig(rules: list[dict[str, Any]] | None = None, **extra: Any) -> Rig:
    r = build_rig(settings(rules or [RULE], **extra))
    r.consumer.assign("orders", 0, 1)
    return r


def msg(offset: int, partition: int = 0, **fields: Any) -> FakeMessage:
    doc = {"type": "order.shipped", "user": f"u{offset}", "order": f"o{offset}", **fields}
    return FakeMessage("orders", partition, offset, orjson.dumps(doc))


def campaigns(r: Rig) -> list[str]:
    return [b.body()["campaign_id"] for b in r.sender.batches]  # type: ignore[misc]


def test_offsets_are_committed_only_after_braze_accepted() -> None:
    r = rig()
    r.consumer.then([msg(0), msg(1), msg(2)])
    r.poll()
    r.loop.flush()
    assert len(r.sender.batches) == 1 and len(r.sender.batches[0]) == 3
    r.poll()
    assert r.consumer.committed() == {}, "nothing is final before Braze answered"
    r.sender.answer_all()
    r.poll()
    assert r.consumer.committed() == {("orders", 0): 3}
    assert r.metric("bridge_recipients_sent_total", {"rule": "live", "target": "c-live"}) == 3


def test_an_event_no_rule_matches_advances_the_offset() -> None:
    r = rig()
    r.consumer.then([msg(0, type="other"), msg(1, type="other")])
    r.poll()
    assert r.consumer.committed() == {("orders", 0): 2}
    assert r.sender.batches == []
    assert r.metric("bridge_events_skipped_total", {"topic": "orders", "reason": "no_match"}) == 2


def test_undecodable_event_is_dead_lettered_and_committed_after_the_ack() -> None:
    r = rig()
    r.producer.acking = False
    r.consumer.then([FakeMessage("orders", 0, 0, b"{not json")])
    r.poll()
    assert r.consumer.committed() == {}
    h = r.producer.headers(0)
    assert h["__bridge.errors.stage"] == "decode"
    assert h["__bridge.errors.class"] == "DecodeError"
    assert h["__bridge.errors.offset"] == "0"
    r.producer.acking = True
    r.poll()
    assert r.consumer.committed() == {("orders", 0): 1}


def test_rejected_batch_dead_letters_every_item_with_http_context() -> None:
    r = rig()
    r.consumer.then([msg(0), msg(1)])
    r.poll()
    r.loop.flush()
    r.sender.answer_all(accepted=False, status=400, reason="bad_request")
    r.poll(2)
    assert len(r.producer.records) == 2
    h = r.producer.headers(1)
    assert h["__bridge.errors.stage"] == "deliver"
    assert h["__bridge.errors.class"] == "bad_request"
    assert h["__bridge.errors.http.status"] == "400"
    assert h["__bridge.errors.http.endpoint"] == "/campaigns/trigger/send"
    assert h["__bridge.errors.rule"] == "live"
    assert r.consumer.committed() == {("orders", 0): 2}


def test_revoke_mid_flight_finishes_and_commits_before_giving_the_partition_up() -> None:
    r = rig()
    r.sender.auto_accept = True  # Braze answers while the revoke waits
    r.consumer.then([msg(0), msg(1)])
    r.consumer.then(lambda c: c.revoke("orders", 0) or [msg(2)])
    r.poll()
    assert r.sender.batches == [], "linger not reached: the batch is still open"
    r.poll()
    assert (True, {("orders", 0): 2}) in r.consumer.commits, "synchronous commit on revoke"
    assert ("orders", 0) not in r.loop.trackers
    assert len(r.sender.batches) == 1, "a record of a revoked partition is not processed"


def test_revoke_waits_at_most_the_drain_deadline() -> None:
    r = rig(shutdown={"drain_deadline_s": 3})
    r.consumer.then([msg(0)])
    r.consumer.then(lambda c: c.revoke("orders", 0) or [])
    r.poll()
    t0 = r.clock.now
    r.poll()
    assert 3.0 <= r.clock.now - t0 < 3.1, "waited for the deadline (Braze never answered)"
    assert r.consumer.committed() == {}, "the unfinished event is not committed"
    assert r.loop.inflight.events == 1


def test_drain_on_shutdown_flushes_waits_and_commits_synchronously() -> None:
    r = rig()
    r.sender.auto_accept = True
    r.consumer.then([msg(0), msg(1, partition=1)])
    r.poll()
    r.loop.stop()
    r.loop.partitions.drain(r.consumer, 5.0)
    assert r.consumer.paused == {("orders", 0), ("orders", 1)}
    assert r.consumer.commits[-1] == (True, {("orders", 0): 1, ("orders", 1): 2})
    assert r.metric("bridge_halted", {"reason": "shutdown"}) == 1


def test_stale_commit_acknowledgement_makes_the_next_tick_commit_again() -> None:
    r = rig()
    r.consumer.ack_commits = False
    r.consumer.then([msg(0, type="x"), msg(1, type="x"), msg(2, type="x")])
    r.poll()
    assert r.consumer.committed() == {("orders", 0): 3}
    # an older commit's acknowledgement lands after the newer request
    from confluent_kafka import TopicPartition

    r.loop.committer.on_commit(None, [TopicPartition("orders", 0, 1)])
    n = len(r.consumer.commits)
    r.poll()
    assert r.consumer.commits[n:] == [(False, {("orders", 0): 3})]


def test_failed_commit_is_sent_again() -> None:
    r = rig()
    r.consumer.ack_commits = False
    r.consumer.then([msg(0, type="x")])
    r.poll()
    from confluent_kafka import KafkaError, TopicPartition

    r.loop.committer.on_commit(KafkaError(KafkaError._TIMED_OUT), [TopicPartition("orders", 0, 1)])
    n = len(r.consumer.commits)
    r.poll()
    assert r.consumer.commits[n:] == [(False, {("orders", 0): 1})]
    assert r.metric("bridge_offset_commits_total", {"result": "failed"}) == 1


def test_backpressure_pauses_then_resumes_below_half() -> None:
    r = rig(kafka={"bootstrap_servers": "x:1", "max_events_in_flight": 100})
    r.consumer.then([msg(i) for i in range(101)])
    r.poll()
    assert r.consumer.paused == {("orders", 0), ("orders", 1)}
    assert r.metric("bridge_halted", {"reason": "backpressure"}) == 0, "not a halt"
    r.loop.flush()
    r.sender.answer_all()
    r.poll()
    assert r.consumer.paused == set()


def test_auth_halt_pauses_reports_not_ready_and_resumes() -> None:
    r = rig()
    r.loop.router.outcomes.put(Control("halt", "auth", "401"))
    r.poll()
    assert r.consumer.paused == {("orders", 0), ("orders", 1)}
    assert r.loop.health.ready()[0] is False
    assert r.metric("bridge_halted", {"reason": "auth"}) == 1
    r.consumer.assign("orders", 2)
    assert ("orders", 2) in r.consumer.paused, "a partition assigned while halted stays paused"
    r.loop.router.outcomes.put(Control("resume", "auth", "ok"))
    r.poll()
    assert r.consumer.paused == set()
    assert r.loop.health.ready()[0] is True
    assert r.metric("bridge_halted", {"reason": "auth"}) == 0


def test_circuit_breaker_opens_and_half_opens_after_the_probe_interval() -> None:
    cb = {"min_events": 10, "max_dead_letter_ratio": 0.5, "probe_interval_s": 30}
    r = rig(delivery={"circuit_breaker": cb})
    r.consumer.then([FakeMessage("orders", 0, i, b"{bad") for i in range(10)])
    r.poll()
    assert r.metric("bridge_circuit_breaker_open") == 1
    assert r.consumer.paused == {("orders", 0), ("orders", 1)}
    r.clock.advance(29)
    r.poll()
    assert r.metric("bridge_circuit_breaker_open") == 1
    r.clock.advance(2)
    r.poll()
    assert r.metric("bridge_circuit_breaker_open") == 0
    assert r.consumer.paused == set()


def test_reload_requested_during_consume_applies_to_what_it_returned() -> None:
    """flake-root-cause.md (b): "config reloaded" is reported once swap_rules returned; the
    events of the consume() call in progress must already go through the new rules."""
    r = rig()
    new = compile_rules(settings([{**RULE, "name": "next", "campaign_id": "c-next"}]))

    def reload_then_event(c: FakeConsumer) -> list[FakeMessage]:
        r.loop.swap_rules(new)  # the reload thread, while consume() waits
        return [msg(0)]

    r.consumer.then(reload_then_event)
    r.poll()
    r.loop.flush()
    assert campaigns(r) == ["c-next"]


def test_registry_outage_pauses_the_partition_and_retries_it_later() -> None:
    from bridge.errors import SchemaRegistryUnavailable

    r = rig()

    class Down:
        def decode(self, _record: Any) -> Any:
            raise SchemaRegistryUnavailable("registry down")

    r.loop.mapper._decoders["orders"] = Down()
    r.consumer.then([msg(5), msg(6)])
    r.poll()
    assert r.consumer.seeks == [("orders", 0, 5)]
    assert r.consumer.paused == {("orders", 0)}
    assert r.producer.records == [], "not dead-lettered"
    r.clock.advance(5)
    r.poll()
    assert r.consumer.paused == set()
