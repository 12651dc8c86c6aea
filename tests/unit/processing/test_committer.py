"""The commit protocol on its own: requested vs. confirmed positions."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from bridge.offsets import InFlight, PartitionTracker
from bridge.ops.metrics import Metrics
from bridge.processing.committer import Committer


class Consumer:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[bool, dict[int, int]]] = []

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> Any:
        self.calls.append((asynchronous, {t.partition: t.offset for t in offsets}))
        if self.fail:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        return None if asynchronous else list(offsets)


def committer(*finals: int) -> tuple[Committer, PartitionTracker, Metrics]:
    m = Metrics()
    tr = PartitionTracker("t", 0, InFlight())
    for off in finals:
        tr.skip(off)
    return Committer({("t", 0): tr}, m, interval_s=1.0), tr, m


def test_nothing_consumed_nothing_committed() -> None:
    c, _, _ = committer()
    k = Consumer()
    c.maybe_commit(k, 10.0)
    assert k.calls == []


def test_interval_limits_async_commits_and_force_commits_synchronously() -> None:
    c, tr, m = committer(0)
    k = Consumer()
    c.maybe_commit(k, 10.0)
    tr.skip(1)
    c.maybe_commit(k, 10.5)  # within the interval
    assert k.calls == [(True, {0: 1})]
    c.maybe_commit(k, 10.6, force=True)
    assert k.calls[-1] == (False, {0: 2})
    assert (tr.committed, tr.confirmed) == (2, 2)
    assert m.registry.get_sample_value("bridge_offset_commits_total", {"result": "ok"}) == 1


def test_synchronous_commit_resends_what_kafka_did_not_confirm() -> None:
    c, tr, _ = committer(0)
    k = Consumer()
    c.commit(k, [tr], asynchronous=True)  # requested, never acknowledged
    c.commit(k, [tr], asynchronous=True)
    assert len(k.calls) == 1, "an async commit of the same position is not repeated"
    c.commit(k, [tr], asynchronous=False)
    assert k.calls[-1] == (False, {0: 1})


def test_a_commit_that_raises_is_retried_next_time() -> None:
    c, tr, m = committer(0)
    k = Consumer(fail=True)
    c.commit(k, [tr], asynchronous=True)
    assert tr.committed == tr.confirmed == -1
    k.fail = False
    c.commit(k, [tr], asynchronous=True)
    assert k.calls[-1] == (True, {0: 1})
    assert m.registry.get_sample_value("bridge_offset_commits_total", {"result": "failed"}) == 1


def test_a_per_partition_error_in_the_callback_resets_that_partition() -> None:
    c, tr, _ = committer(0, 1)
    k = Consumer()
    c.commit(k, [tr], asynchronous=True)
    bad = SimpleNamespace(topic="t", partition=0, offset=2, error=KafkaError(KafkaError._TIMED_OUT))
    c.on_commit(None, [bad])  # type: ignore[list-item]
    assert tr.committed == tr.confirmed == -1
    c.commit(k, [tr], asynchronous=True)
    assert k.calls[-1] == (True, {0: 2})


def test_acknowledgement_for_a_revoked_partition_is_not_counted() -> None:
    c, tr, m = committer(0)
    c.on_commit(None, [TopicPartition("gone", 3, 7)])  # no tracker any more
    assert m.registry.get_sample_value("bridge_offset_commits_total", {"result": "ok"}) in (0, None)
    assert tr.confirmed == -1
