"""Issue 11 with a fake consumer: completed work above the commit travels in the commit's
metadata, and after a crash (a new loop reading the same committed offsets) only what was not
final is sent again."""

from __future__ import annotations

import random
from typing import Any

import orjson

from tests.support.fakes import FakeMessage, Rig, build_rig
from tests.unit.helpers import settings

RULE = {
    "name": "live",
    "topic": "orders",
    "when": {"type": "order.shipped"},
    "action": "campaign_trigger",
    "campaign_id": "c-live",
    "recipient": {"external_user_id": "$.user"},
}
SECOND = {**RULE, "name": "second", "campaign_id": "c-second"}


def msg(offset: int) -> FakeMessage:
    doc = {"type": "order.shipped", "user": f"u{offset}"}
    return FakeMessage("orders", 0, offset, orjson.dumps(doc))


def rig(rules: list[dict[str, Any]], **kafka: Any) -> Rig:
    extra = {"kafka": {"bootstrap_servers": "127.0.0.1:1", **kafka}} if kafka else {}
    return build_rig(settings(rules, **extra))


def restart_from(old: Rig, rules: list[dict[str, Any]], **kafka: Any) -> Rig:
    """A new process: the broker still has what ``old`` committed (offset and metadata)."""
    new = rig(rules, **kafka)
    new.consumer.commits = list(old.consumer.commits)
    new.consumer.metadata_log = list(old.consumer.metadata_log)
    new.consumer.assign("orders", 0)
    return new


def users(r: Rig) -> list[str]:
    return sorted(i.payload["external_user_id"] for b in r.sender.batches for i in b.items)


def test_after_a_crash_only_the_event_still_in_flight_is_sent_again() -> None:
    a = rig([RULE])
    a.consumer.assign("orders", 0)
    a.consumer.then([msg(0)])
    a.poll()
    a.loop.flush()
    hung = a.sender.batches.pop()  # offset 0: Braze never answers (hangs)
    a.consumer.then([msg(i) for i in range(1, 10)])
    a.poll()
    a.loop.flush()
    a.sender.answer_all()  # 1..9 accepted
    a.poll(2)
    assert a.consumer.committed() == {("orders", 0): 0}, "the watermark waits for offset 0"
    assert a.consumer.metadata_log[-1][1].startswith("bkb1."), "completions ride along"
    assert hung.items[0].payload["external_user_id"] == "u0"

    b = restart_from(a, [RULE])  # kill -9, restart: the broker re-delivers from offset 0
    b.consumer.then([msg(i) for i in range(10)])
    b.poll()
    b.loop.flush()
    assert users(b) == ["u0"], "only the request in flight at the kill is sent again"
    skipped = b.metric(
        "bridge_events_skipped_total", {"topic": "orders", "reason": "already_delivered"}
    )
    assert skipped == 9
    b.sender.answer_all()
    b.poll(2)
    assert b.consumer.committed() == {("orders", 0): 10}


def test_an_event_of_two_rules_sends_only_the_action_that_was_not_final() -> None:
    a = rig([RULE, SECOND])
    a.consumer.assign("orders", 0)
    a.consumer.then([msg(0)])
    a.poll()
    a.loop.flush()
    by_campaign = {b.body()["campaign_id"]: b for b in a.sender.batches}
    a.sender.answer(by_campaign["c-live"], accepted=True)  # "second" hangs
    a.poll(2)
    assert a.consumer.committed() == {("orders", 0): 0}

    b = restart_from(a, [RULE, SECOND])
    b.consumer.then([msg(0)])
    b.poll()
    b.loop.flush()
    assert [x.body()["campaign_id"] for x in b.sender.batches] == ["c-second"]
    assert (
        b.metric("bridge_actions_skipped_total", {"rule": "live", "reason": "already_delivered"})
        == 1
    )


def test_a_renamed_rule_is_sent_again_never_lost() -> None:
    a = rig([RULE, SECOND])
    a.consumer.assign("orders", 0)
    a.consumer.then([msg(0)])
    a.poll()
    a.loop.flush()
    a.sender.answer(
        next(x for x in a.sender.batches if x.body()["campaign_id"] == "c-live"), accepted=True
    )
    a.poll(2)
    renamed = {**RULE, "name": "live-v2"}
    b = restart_from(a, [renamed, SECOND])
    b.consumer.then([msg(0)])
    b.poll()
    b.loop.flush()
    assert sorted(x.body()["campaign_id"] for x in b.sender.batches) == ["c-live", "c-second"]


def test_garbage_or_foreign_metadata_skips_nothing() -> None:
    a = rig([RULE])
    a.consumer.commits = [(True, {("orders", 0): 0})]
    a.consumer.metadata_log = [(("orders", 0), "some other tool's metadata")]
    a.consumer.assign("orders", 0)
    a.consumer.then([msg(0), msg(1)])
    a.poll()
    a.loop.flush()
    assert users(a) == ["u0", "u1"]


def test_a_full_map_pauses_the_partition_instead_of_dropping_completions() -> None:
    a = rig([RULE], completion_map_bytes=64)
    a.consumer.assign("orders", 0)
    rng = random.Random(7)
    for i in range(400):
        a.clock.advance(0.05)  # the map is encoded at most every 200 ms
        a.consumer.then([msg(i)])
        a.poll()
        a.loop.flush()
        if a.sender.batches:
            b = a.sender.batches.pop()
            if i > 0 and rng.random() < 0.5:  # a random half accepted: an incompressible map
                a.sender.answer(b, accepted=True)
            else:
                a.sender.batches.insert(0, b)
        if ("orders", 0) in a.consumer.paused:
            break
    assert ("orders", 0) in a.consumer.paused, "the partition waits for room in the map"
    assert a.metric("bridge_completion_map_waits_total") == 1
    seek = a.consumer.seeks[-1]
    assert seek[:2] == ("orders", 0) and seek[2] > 1
    text = a.consumer.metadata_log[-1][1]
    assert 0 < len(text) <= 64
    # Everything answered: the watermark moves, the map empties, the partition resumes.
    a.sender.answer_all()
    a.poll(2)
    a.clock.advance(1.0)
    a.poll(2)
    assert ("orders", 0) not in a.consumer.paused


def test_map_off_is_a_plain_watermark_commit() -> None:
    a = rig([RULE], completion_map_bytes=0)
    a.consumer.assign("orders", 0)
    a.consumer.then([msg(0)])
    a.poll()
    a.loop.flush()
    a.sender.batches.pop()
    a.consumer.then([msg(1)])
    a.poll()
    a.loop.flush()
    a.sender.answer_all()
    a.poll(2)
    assert all(text == "" for _key, text in a.consumer.metadata_log)


def test_replay_keeps_the_same_guarantee_on_its_own_group() -> None:
    """Replay's progress is committed with a completed-work map too: a replay killed while one
    replayed request hangs does not replay the others again."""
    from bridge.ops.metrics import Metrics
    from bridge.processing.deadletters import DeadLetterSource, ReplayFilter
    from tests.unit.processing.test_deadletters import DLQ, dead_letter

    rule = {k: v for k, v in RULE.items() if k != "when"}

    def replay(ends: dict[int, int]) -> Rig:
        metrics = Metrics()
        source = DeadLetterSource(DLQ, ReplayFilter(), metrics, ends=ends)
        return build_rig(settings([rule]), source=source, metrics=metrics)

    a = replay({0: 6})
    a.consumer.assign(DLQ, 0)
    a.consumer.then([dead_letter(0)])
    a.poll()
    a.loop.flush()
    a.sender.batches.pop()  # the first replayed request hangs
    a.consumer.then([dead_letter(i) for i in range(1, 6)])
    a.poll()
    a.loop.flush()
    a.sender.answer_all()
    a.poll(2)
    assert a.consumer.committed() == {(DLQ, 0): 0}

    b = replay({0: 6})
    b.consumer.commits = list(a.consumer.commits)
    b.consumer.metadata_log = list(a.consumer.metadata_log)
    b.consumer.assign(DLQ, 0)
    b.consumer.then([dead_letter(i) for i in range(6)])
    b.poll()
    b.loop.flush()
    assert users(b) == ["u0"], "only the replayed request in flight at the kill again"


def test_a_broker_with_a_lower_metadata_limit_gets_a_smaller_map() -> None:
    """offset.metadata.max.bytes below the budget: the broker refuses the commit (error 12 on
    every partition of the request); the partition halves its budget and commits again."""
    from confluent_kafka import KafkaError, TopicPartition

    limit = 150
    a = rig([RULE])
    fake = a.consumer
    plain_commit = fake.commit

    def commit(*, offsets: list[TopicPartition], asynchronous: bool) -> Any:
        if any(len(t.metadata or "") > limit for t in offsets):
            fake.acks.append((KafkaError(KafkaError.OFFSET_METADATA_TOO_LARGE), offsets))
            return None
        return plain_commit(offsets=offsets, asynchronous=asynchronous)

    fake.commit = commit  # type: ignore[method-assign]
    fake.assign("orders", 0)
    rng = random.Random(3)
    fake.then([msg(0)])
    a.poll()
    a.loop.flush()
    a.sender.batches.pop()  # offset 0 hangs: everything else is above the watermark
    for i in range(1, 1200):
        a.clock.advance(0.05)
        fake.then([msg(i)])
        a.poll()
        a.loop.flush()
        b = a.sender.batches.pop()
        if rng.random() < 0.6:
            a.sender.answer(b, accepted=True)
        else:
            a.sender.batches.insert(0, b)
    a.clock.advance(1.0)
    a.poll(3)
    assert a.metric("bridge_offset_commits_total", {"result": "failed"}) >= 1
    tracker = a.loop.trackers[("orders", 0)]
    assert tracker.log.budget <= limit or not tracker.log.enabled
    accepted = [text for _k, text in fake.metadata_log if text]
    assert accepted and all(len(t) <= limit for t in accepted), "later maps fit the broker"


def test_partitions_assigned_while_closing_do_not_wait_for_the_committed_map() -> None:
    """A peer leaving during this replica's drain hands it partitions inside close(): reading
    their committed maps there held close() for the 10 s committed() timeout (a replica of
    tests/reliability/test_rate_limit_sharing.py outlived SIGTERM by 30 s)."""
    a = rig([RULE])
    reads: list[int] = []
    real = a.consumer.committed

    def committed(partitions: Any = None, timeout: float = -1) -> Any:
        if partitions is not None:
            reads.append(len(partitions))
        return real(partitions, timeout)

    a.consumer.committed = committed  # type: ignore[method-assign]
    a.consumer.assign("orders", 0)
    assert reads == [1]  # a running replica reads the map of what it is given
    a.loop.stop()
    a.consumer.assign("orders", 1)
    assert reads == [1]  # a closing one does not
    assert ("orders", 1) in a.loop.trackers  # but still tracks it, so the revoke is clean
    a.consumer.revoke("orders", 0, 1)
    assert a.loop.trackers == {}
