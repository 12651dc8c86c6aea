"""The commit protocol: each partition's position, requested and confirmed.

``committed`` is what was last handed to Kafka, ``confirmed`` what Kafka acknowledged. A failed
commit resets ``committed`` to ``confirmed`` so the next tick sends it again; a synchronous
commit (drain, revoke) sends everything not yet confirmed; an acknowledgement older than the
last request (commits retried after a broker outage can land after newer ones) means the
stored offset went back, so the next tick commits again.
"""

from __future__ import annotations

import logging
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from bridge.offsets import PartitionTracker
from bridge.ops.metrics import Metrics

log = logging.getLogger("bridge.processing.committer")

Trackers = dict[tuple[str, int], PartitionTracker]


class Committing(Protocol):
    """The part of a consumer the committer uses."""

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> object: ...


class Committer:
    """Commits the trackers' positions; :meth:`on_commit` is librdkafka's commit callback."""

    def __init__(self, trackers: Trackers, metrics: Metrics, interval_s: float) -> None:
        self.trackers = trackers
        self.metrics = metrics
        self.interval_s = interval_s
        self._last = 0.0

    def maybe_commit(self, consumer: Committing, now: float, force: bool = False) -> None:
        """Commit every tracker when the interval has passed (``force``: now, synchronously)."""
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        self.commit(consumer, list(self.trackers.values()), asynchronous=not force)

    def commit(
        self, consumer: Committing, trackers: list[PartitionTracker], asynchronous: bool
    ) -> None:
        """Commit each tracker's position unless Kafka already confirmed it."""
        offsets = []
        for tr in trackers:
            pos = tr.advance()
            if pos < 0:
                continue
            if pos > tr.committed or (not asynchronous and pos != tr.confirmed):
                offsets.append(TopicPartition(tr.topic, tr.partition, pos))
                tr.committed = pos
        if not offsets:
            return
        if asynchronous:
            try:
                consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:
                self.failed(offsets, str(exc))
            return
        try:
            result = consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self.failed(offsets, str(exc))
            return
        self.on_commit(None, result if isinstance(result, list) else [])

    def on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's commit callback (called on the loop thread, from consume/commit)."""
        if err is not None:
            self.failed(partitions, str(err))
            return
        bad = [tp for tp in partitions if tp.error is not None]
        if bad:
            self.failed(bad, str(bad[0].error))
        ok = 0
        for tp in partitions:
            if tp.error is not None:
                continue
            tr = self.trackers.get((tp.topic, tp.partition))
            if tr is None:
                continue
            tr.confirmed = tp.offset
            if tp.offset < tr.committed:
                tr.committed = tp.offset  # a stale acknowledgement: commit again next tick
            ok += 1
        if ok:
            self.metrics.commits.labels("ok").inc()

    def failed(self, partitions: list[TopicPartition], error: str) -> None:
        self.metrics.commits.labels("failed").inc()
        log.warning("offset commit failed; will retry", extra={"error": error})
        for tp in partitions:
            tr = self.trackers.get((tp.topic, tp.partition))
            if tr is not None:
                tr.committed = tr.confirmed
