"""The commit protocol: each partition's position, requested and confirmed.

``committed`` is what was last handed to Kafka, ``confirmed`` what Kafka acknowledged. A failed
commit resets ``committed`` to ``confirmed`` so the next tick sends it again; a synchronous
commit (drain, revoke) sends everything not yet confirmed; an acknowledgement older than the
last request (commits retried after a broker outage can land after newer ones) means the
stored offset went back, so the next tick commits again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from bridge.completions import CompletionLog, refused_too_large
from bridge.offsets import PartitionTracker
from bridge.ops.metrics import Metrics

log = logging.getLogger("bridge.processing.committer")

Trackers = dict[tuple[str, int], PartitionTracker]


class Committing(Protocol):
    """The part of a consumer the committer uses."""

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> object: ...


class Committer:
    """Commits the trackers' positions with their completed-work maps (issue 11);
    :meth:`on_commit` is librdkafka's commit callback."""

    def __init__(
        self,
        trackers: Trackers,
        metrics: Metrics,
        interval_s: float,
        map_interval_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.trackers = trackers
        self.metrics = metrics
        self.interval_s = interval_s
        self.map_interval_s = map_interval_s
        self.clock = clock
        self._last = 0.0

    def maybe_commit(self, consumer: Committing, now: float, force: bool = False) -> None:
        """Commit every tracker when the interval has passed (``force``: now, synchronously)."""
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        self.commit(consumer, list(self.trackers.values()), asynchronous=not force)
        self.metrics.set_oldest_unfinished(tr.oldest_open_ms() for tr in self.trackers.values())

    def commit(
        self, consumer: Committing, trackers: list[PartitionTracker], asynchronous: bool
    ) -> None:
        """Commit each tracker's position (and map) unless Kafka already has it."""
        offsets = []
        now = self.clock()
        for tr in trackers:
            pos = tr.advance()
            if pos < 0 and tr.tickets and tr.log.size:
                pos = tr.tickets[0].offset  # nothing final at the head, but above it
            if pos < 0:
                continue
            moved = pos > tr.committed or (not asynchronous and pos != tr.confirmed)
            text = tr.log.text_for(pos, now, 0.0 if not asynchronous else self.map_interval_s)
            if moved or (pos, text) != tr.log.last_sent:
                offsets.append(TopicPartition(tr.topic, tr.partition, pos, metadata=text))
                tr.log.sent(pos, text, now)
                tr.committed = pos
        if not offsets:
            return
        if asynchronous:
            try:
                consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:
                self.failed(offsets, str(exc), _too_large(exc.args[0] if exc.args else None))
            return
        try:
            result = consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self.failed(offsets, str(exc), _too_large(exc.args[0] if exc.args else None))
            return
        self.on_commit(None, result if isinstance(result, list) else [])

    def on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's commit callback (called on the loop thread, from consume/commit)."""
        if err is not None:
            self.failed(partitions, str(err), _too_large(err))
            return
        bad = [tp for tp in partitions if tp.error is not None]
        if bad:
            self.failed(bad, str(bad[0].error), any(_too_large(tp.error) for tp in bad))
        ok = 0
        for tp in partitions:
            if tp.error is not None:
                continue
            tr = self.trackers.get((tp.topic, tp.partition))
            if tr is None:
                continue
            tr.confirmed = tp.offset
            tr.log.acknowledged(tp.offset, getattr(tp, "metadata", None) or "")
            if tp.offset < tr.committed:
                tr.committed = tp.offset  # a stale acknowledgement: commit again next tick
            ok += 1
        if ok:
            self.metrics.commits.labels("ok").inc()

    def failed(self, partitions: list[TopicPartition], error: str, too_large: bool = False) -> None:
        self.metrics.commits.labels("failed").inc()
        log.warning("offset commit failed; will retry", extra={"error": error})
        if too_large:
            # The broker's offset.metadata.max.bytes is below our budget. librdkafka does not
            # say which partition was refused: those that sent the longest map lower their
            # budget; the others are sent again (same position and map, harmless).
            logs: dict[int, CompletionLog] = {}
            sent: dict[int, str] = {}
            names: dict[int, str] = {}
            for i, tp in enumerate(partitions):
                tr = self.trackers.get((tp.topic, tp.partition))
                if tr is not None:
                    logs[i], sent[i] = tr.log, getattr(tp, "metadata", None) or ""
                    names[i] = f"{tp.topic}[{tp.partition}]"
            for i in refused_too_large(logs, sent):
                log.warning(
                    "broker refused the completed-work map as too large; using a smaller one",
                    extra={
                        "partition": names[i],
                        "budget": logs[i].budget,
                        "map_enabled": logs[i].enabled,
                    },
                )
        for tp in partitions:
            tr = self.trackers.get((tp.topic, tp.partition))
            if tr is not None:
                tr.committed = tr.confirmed
                if not too_large:
                    tr.log.refused(getattr(tp, "metadata", None) or "", too_large=False)


def _too_large(err: object) -> bool:
    code = getattr(err, "code", None)
    return callable(code) and code() == KafkaError.OFFSET_METADATA_TOO_LARGE
