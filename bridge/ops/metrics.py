"""Every Prometheus series the bridge exports, and the hooks that keep them current.

The series themselves are defined in :mod:`bridge.ops.series`, stage by stage.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge

from bridge.ops.series import Series


class Metrics(Series):
    """All series (see :class:`~bridge.ops.series.Series`) and what the stages call to
    observe events and forget series of partitions and topics no longer read."""

    # -- observation hooks -----------------------------------------------------------------
    def event_accepted(self, rule: str, timestamp_ms: int, now_s: float | None = None) -> None:
        """Braze accepted an item of an event with this Kafka timestamp (call once per item).
        Records without a timestamp (0 or negative) are not observed."""
        if timestamp_ms <= 0:
            return
        child = self._latency_children.get(rule)
        if child is None:
            child = self._latency_children[rule] = self.event_latency.labels(rule)
        now = time.time() if now_s is None else now_s
        child.observe(max(now - timestamp_ms / 1000.0, 0.0))

    def set_oldest_unfinished(
        self, timestamps_ms: Iterable[int | None], now_s: float | None = None
    ) -> None:
        """Export the age of the oldest open event from each partition's oldest open record
        timestamp (None or <= 0: nothing open, or no timestamp)."""
        ts = [t for t in timestamps_ms if t is not None and t > 0]
        now = time.time() if now_s is None else now_s
        self.oldest_unfinished_age.set(max(now - min(ts) / 1000.0, 0.0) if ts else 0.0)

    def kafka_stats(self, stats: dict[str, Any]) -> None:
        """Take one parsed librdkafka statistics document (consumer)."""
        cgrp = stats.get("cgrp") or {}
        self.kafka_client.update(
            replyq=float(stats.get("replyq", 0)),
            rx_msgs=float(stats.get("rxmsgs", 0)),
            rx_bytes=float(stats.get("rx_bytes", 0)),
            rebalance_cnt=float(cgrp.get("rebalance_cnt", 0)),
            assignment_size=float(cgrp.get("assignment_size", 0)),
        )

    # -- series removal --------------------------------------------------------------------
    def forget_partition(self, topic: str, partition: int) -> None:
        """This member no longer owns ``topic[partition]``: drop its lag series, which would
        otherwise keep exporting the frozen lag of a partition another member now reads."""
        try:
            self.consumer_lag.remove(topic, str(partition))
        except KeyError:
            pass

    def forget_topic(self, topic: str) -> None:
        """Drop every series labelled with ``topic`` (a pattern-matched topic this member no
        longer reads, or a deleted one): series must not accumulate with topic churn."""
        for m in self._by_topic():
            names = list(getattr(m, "_labelnames", ()))
            idx = names.index("topic")
            children: dict[tuple[str, ...], Any] = getattr(m, "_metrics", {})
            for key in [k for k in list(children) if k[idx] == topic]:
                try:
                    m.remove(*key)
                except KeyError:
                    pass

    def forget_revoked(
        self,
        revoked: Iterable[tuple[str, int]],
        still_owned: Iterable[tuple[str, int]],
        subscribed: Iterable[str],
    ) -> list[str]:
        """After a revoke or loss: forget each partition's lag, and every series of a topic
        no longer owned at all unless it is a literal subscription (a topic matched by a
        pattern may be gone for good). Returns the topics forgotten, so callers can drop
        cached children of them."""
        revoked = list(revoked)
        for topic, partition in revoked:
            self.forget_partition(topic, partition)
        owned = {t for t, _ in still_owned}
        literal = set(subscribed)
        gone = sorted({t for t, _ in revoked} - owned - literal)
        for topic in gone:
            self.forget_topic(topic)
        return gone

    def _by_topic(self) -> list[Counter | Gauge]:
        return [
            self.events_consumed,
            self.events_matched,
            self.events_skipped,
            self.events_dead_lettered,
            self.consumer_lag,
        ]


class Tally:
    """Per-event counts kept in a plain dict and added to the counters once per poll-loop
    iteration: a labelled ``inc()`` costs microseconds, a dict update a fraction of one."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[tuple[Counter, tuple[str, ...]], int] = {}

    def add(self, counter: Counter, *labels: str) -> None:
        key = (counter, labels)
        self.counts[key] = self.counts.get(key, 0) + 1

    def flush(self) -> None:
        if self.counts:
            for (counter, labels), n in self.counts.items():
                counter.labels(*labels).inc(n)
            self.counts.clear()
