"""Record sources: which topics the loop reads and how a message becomes a record to map.

:class:`TopicSource` reads the configured topics (``run``);
:class:`bridge.processing.deadletters.DeadLetterSource` reads the dead-letter topic
(``replay``): it restores the original event from the context headers, runs only the rule that
failed, applies the filters and the loop guard, and knows when it is done.
"""

from __future__ import annotations

import logging
from typing import Protocol

from confluent_kafka import Message, TopicPartition

from bridge.models import Record
from bridge.offsets import InFlight, PartitionTracker
from bridge.ops.metrics import Metrics, Tally
from bridge.ruleset import CompiledRule, RuleSet

log = logging.getLogger("bridge.processing.sources")

Admitted = tuple[Record, tuple[CompiledRule, ...], int]
"""A record to map, its candidate rules, and its offset in the consumed partition."""


class Positions(Protocol):
    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...


class Source(Protocol):
    def topics(self) -> list[str]: ...

    def admit(
        self, m: Message, topic: str, tracker: PartitionTracker, rules: RuleSet
    ) -> Admitted | None:
        """The record to map, or None when it was handled here (skipped)."""

    def tick(self, now: float, trackers: dict[tuple[str, int], PartitionTracker]) -> None: ...

    def finished(
        self,
        consumer: Positions,
        trackers: dict[tuple[str, int], PartitionTracker],
        inflight: InFlight,
    ) -> bool: ...


class TopicSource:
    """The configured input topics."""

    def __init__(self, topics: list[str], metrics: Metrics, tally: Tally) -> None:
        self._topics = topics
        self.metrics = metrics
        self.tally = tally

    def topics(self) -> list[str]:
        return self._topics

    def admit(
        self, m: Message, topic: str, tracker: PartitionTracker, rules: RuleSet
    ) -> Admitted | None:
        offset = m.offset() or 0
        candidates = rules.for_topic(topic)
        if not candidates:
            tracker.skip(offset)
            self.tally.add(self.metrics.events_skipped, topic, "no_rule")
            return None
        hdrs = m.headers() or ()
        record = Record(
            topic,
            tracker.partition,
            offset,
            m.key(),
            m.value(),
            tuple(hdrs),  # type: ignore[arg-type]
            m.timestamp()[1],
        )
        return record, candidates, offset

    def tick(self, now: float, trackers: dict[tuple[str, int], PartitionTracker]) -> None:
        return None

    def finished(
        self,
        consumer: Positions,
        trackers: dict[tuple[str, int], PartitionTracker],
        inflight: InFlight,
    ) -> bool:
        return False
