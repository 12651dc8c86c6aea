"""Partition ownership: assign, revoke (finish and commit first), lost, and the drain.

On revoke, the revoked partitions' work is finished (up to a deadline) and committed before
they are given up. On shutdown: stop fetching, flush, wait up to the drain deadline, commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from bridge.completions import CompletionLog
from bridge.offsets import InFlight, PartitionTracker
from bridge.ops.health import HealthState
from bridge.ops.metrics import Metrics
from bridge.processing.clock import Clock
from bridge.processing.committer import Committer
from bridge.processing.flow import SHUTDOWN, FlowControl
from bridge.settings import Settings

log = logging.getLogger("bridge.processing.rebalance")


class Partitions:
    """The assigned partitions' trackers and what happens when ownership changes.

    ``flush`` hands every open batch to the router; ``pump`` applies outcomes and serves the
    producers' acknowledgements; ``stopping`` says whether the loop is shutting down.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        trackers: dict[tuple[str, int], PartitionTracker],
        inflight: InFlight,
        committer: Committer,
        flow: FlowControl,
        metrics: Metrics,
        health: HealthState,
        clock: Clock,
        flush: Callable[[], None],
        pump: Callable[[], None],
        stopping: Callable[[], bool],
        forget: Callable[[list[tuple[str, int]]], None] = lambda _keys: None,
    ) -> None:
        self.settings = settings
        self.trackers = trackers
        self.inflight = inflight
        self.committer = committer
        self.flow = flow
        self.metrics = metrics
        self.health = health
        self.clock = clock
        self.flush = flush
        self.pump = pump
        self.stopping = stopping
        self.forget = forget  # drop the metric series of partitions given up

    def on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("assign").inc()
        # Assigned while the consumer closes (a peer left during this replica's drain): nothing
        # will be consumed, so the completed-work map is not needed, and reading it could hold
        # close() for the 10 s committed() timeout, past the drain deadline.
        committed = {} if self.stopping() else self._committed(consumer, partitions)
        k = self.settings.kafka
        for tp in partitions:
            key = (tp.topic, tp.partition)
            tr = self.trackers[key] = PartitionTracker(
                tp.topic,
                tp.partition,
                self.inflight,
                log=CompletionLog(
                    budget=k.completion_map_bytes, min_interval_s=k.commit_interval_ms / 1000
                ),
            )
            c = committed.get(key)
            if c is not None and tr.log.enabled:
                work = tr.log.assigned(c.offset, c.metadata)
                if work.done_count or work.partial:
                    log.info(
                        "completed work above the commit will be skipped",
                        extra={
                            "partition": f"{tp.topic}[{tp.partition}]",
                            "committed": c.offset,
                            "events": work.done_count,
                            "partial_events": len(work.partial),
                        },
                    )
                elif c.metadata and work.reason:
                    log.warning(
                        "completed-work map not used",
                        extra={"partition": f"{tp.topic}[{tp.partition}]", "reason": work.reason},
                    )
        self.health.assigned(len(self.trackers))
        log.info("partitions assigned", extra={"partitions": _names(partitions)})
        if self.flow.paused:
            try:
                consumer.pause(partitions)
            except KafkaException:
                pass

    def _committed(
        self, consumer: Any, partitions: list[TopicPartition]
    ) -> dict[tuple[str, int], TopicPartition]:
        """The committed offsets and completed-work maps of newly assigned partitions."""
        if not partitions or self.settings.kafka.completion_map_bytes == 0:
            return {}
        try:
            got = consumer.committed(partitions, timeout=10)
        except (KafkaException, RuntimeError) as exc:
            log.warning(
                "cannot read committed offsets; no completed-work map this time",
                extra={"error": str(exc)},
            )
            return {}
        return {(c.topic, c.partition): c for c in got if c.offset >= 0}

    def _report_skipped(self, tr: PartitionTracker) -> None:
        s = tr.log.skipped()
        if s.events or s.actions:
            log.info(
                "skipped work that was final before the restart",
                extra={
                    "partition": f"{tr.topic}[{tr.partition}]",
                    "events": s.events,
                    "actions": s.actions,
                },
            )

    def on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("revoke").inc()
        keys = [(tp.topic, tp.partition) for tp in partitions]
        trackers = [self.trackers[k] for k in keys if k in self.trackers]
        self.flush()
        budget = min(
            self.settings.shutdown.drain_deadline_s,
            self.settings.kafka.max_poll_interval_ms / 2000,
        )
        if not self.stopping():  # on shutdown the drain already waited
            self.wait_final(trackers, self.clock.monotonic() + budget)
        self.committer.commit(consumer, trackers, asynchronous=False)
        for revoked in trackers:
            self._report_skipped(revoked)
        for k in keys:
            tr = self.trackers.pop(k, None)
            if tr is not None:
                tr.revoked = True
            self.flow.forget(k)
        self.forget(keys)
        self.health.assigned(len(self.trackers))
        log.info("partitions revoked", extra={"partitions": _names(partitions)})

    def on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("lost").inc()
        for tp in partitions:
            tr = self.trackers.pop((tp.topic, tp.partition), None)
            if tr is not None:
                tr.revoked = True
        self.forget([(tp.topic, tp.partition) for tp in partitions])
        self.health.assigned(len(self.trackers))
        log.warning("partitions lost (not committed)", extra={"partitions": _names(partitions)})

    def wait_final(self, trackers: list[PartitionTracker], deadline: float) -> None:
        """Pump outcomes until every ticket of ``trackers`` is final or ``deadline`` passed."""
        while self.clock.monotonic() < deadline:
            self.pump()
            if all(all(t.pending == 0 for t in tr.tickets) for tr in trackers):
                return
            self.clock.sleep(0.005)

    def drain(self, consumer: Any, deadline_s: float) -> None:
        """Shutdown: stop fetching, flush, wait up to ``deadline_s``, commit synchronously."""
        log.info("draining", extra={"deadline_s": deadline_s})
        self.flow.set(SHUTDOWN, True)
        self.flow.apply(consumer)
        self.flush()
        self.wait_final(list(self.trackers.values()), self.clock.monotonic() + deadline_s)
        self.committer.maybe_commit(consumer, self.clock.monotonic(), force=True)
        if self.inflight.events:
            log.warning(
                "drain deadline reached; unfinished events will be redelivered",
                extra={"events": self.inflight.events},
            )
        else:
            log.info("drained")


def _names(parts: list[TopicPartition]) -> str:
    return ",".join(f"{tp.topic}[{tp.partition}]" for tp in parts)
