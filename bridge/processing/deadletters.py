"""The dead-letter topic as a record source (``braze-bridge replay``).

For each dead letter the original event (topic, key, value, headers) is restored from the
context headers, and only the rule named in ``__bridge.errors.rule`` runs (all rules of the
topic for decode failures), so rules that already succeeded for that event do not send again.
A record that fails again is dead-lettered again with ``__bridge.replay.count`` + 1; records
replayed ``max_replays`` times are left alone (loop guard). A record whose context headers
cannot be read (a non-integer time, count, partition or offset) is skipped with a warning
and counted as ``bad_header``: it never stops the replay.

Without ``follow`` the source is finished once every partition was read up to the end offset
seen at start. The position, not the last record, decides: transaction markers, aborted
transactions and compaction leave offsets no record will ever have.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

from confluent_kafka import Message, TopicPartition

from bridge.kafka.deadletter import PREFIX, REPLAY_COUNT
from bridge.models import Record
from bridge.offsets import InFlight, PartitionTracker
from bridge.ops.metrics import Metrics
from bridge.processing.sources import Admitted, Positions
from bridge.ruleset import RuleSet

log = logging.getLogger("bridge.replay")


@dataclass
class ReplayFilter:
    rules: set[str] = field(default_factory=set)
    classes: set[str] = field(default_factory=set)
    since_ms: int | None = None
    until_ms: int | None = None
    max_replays: int = 3


COUNTS = ("replayed", "filtered", "loop_guard", "rule_gone", "bad_header")


class BadHeader(ValueError):
    """A dead letter's context header does not hold what the bridge writes there."""


def header_int(h: dict[str, str], name: str) -> int:
    text = h.get(name, "0") or "0"
    try:
        return int(text)
    except ValueError:
        raise BadHeader(f"{name}={text[:40]!r} is not an integer") from None


def decode_headers(m: Message) -> tuple[list[tuple[str, bytes | None]], dict[str, str]]:
    """The message's headers as bytes pairs and as a name -> text map (last one wins)."""
    hs = m.headers() or []
    pairs = list(hs.items()) if isinstance(hs, dict) else list(hs)
    raw: list[tuple[str, bytes | None]] = [
        (str(k), v if isinstance(v, bytes) or v is None else str(v).encode()) for k, v in pairs
    ]
    text = {k: (v or b"").decode("utf-8", "replace") for k, v in raw}
    return raw, text


class DeadLetterSource:
    """Reads the dead-letter topic; ``ends``: its end offsets when the replay started."""

    def __init__(
        self,
        topic: str,
        filt: ReplayFilter,
        metrics: Metrics,
        *,
        follow: bool = False,
        ends: dict[int, int] | None = None,
    ) -> None:
        self.topic = topic
        self.filt = filt
        self.metrics = metrics
        self.follow = follow
        self.ends: dict[int, int] = dict(ends or {})
        self.counts = dict.fromkeys(COUNTS, 0)
        self.tty = sys.stderr.isatty()
        self._progress_at = 0.0

    def topics(self) -> list[str]:
        return [self.topic]

    def _count(self, what: str) -> None:
        self.counts[what] += 1
        self.metrics.replayed.labels(what).inc()

    def admit(
        self, m: Message, topic: str, tracker: PartitionTracker, rules: RuleSet
    ) -> Admitted | None:
        partition = tracker.partition
        offset = m.offset() or 0
        if not self.follow and offset >= self.ends.get(partition, 0):
            return None  # written after the replay started (e.g. its own new dead letters)
        raw, h = decode_headers(m)
        try:
            return self._admit(m, tracker, rules, raw, h, offset)
        except BadHeader as exc:
            tracker.skip(offset)
            self._count("bad_header")
            log.warning(
                "not replaying: unreadable dead-letter header: %s",
                exc,
                extra={"partition": partition, "offset": offset},
            )
            return None

    def _admit(
        self,
        m: Message,
        tracker: PartitionTracker,
        rules: RuleSet,
        raw: list[tuple[str, bytes | None]],
        h: dict[str, str],
        offset: int,
    ) -> Admitted | None:
        f = self.filt
        rule = h.get(PREFIX + "rule")
        cls = h.get(PREFIX + "class", "")
        when = header_int(h, PREFIX + "time")
        count = header_int(h, REPLAY_COUNT)
        if (
            (f.rules and rule not in f.rules)
            or (f.classes and cls not in f.classes)
            or (f.since_ms is not None and when < f.since_ms)
            or (f.until_ms is not None and when > f.until_ms)
        ):
            tracker.skip(offset)
            self._count("filtered")
            return None
        where = {"partition": tracker.partition, "offset": offset}
        if count >= f.max_replays:
            tracker.skip(offset)
            self._count("loop_guard")
            log.warning("not replaying: replayed %d times already", count, extra=where)
            return None
        orig_topic = h.get(PREFIX + "topic", "")
        candidates = rules.for_topic(orig_topic)
        if rule:
            candidates = tuple(r for r in candidates if r.name == rule)
        if not candidates:
            tracker.skip(offset)
            self._count("rule_gone")
            log.warning(
                "not replaying: no rule %r reads topic %r any more", rule, orig_topic, extra=where
            )
            return None
        headers = tuple(
            (k, v) for k, v in raw if not k.startswith(PREFIX) and k != REPLAY_COUNT
        ) + ((REPLAY_COUNT, str(count + 1).encode()),)
        record = Record(
            orig_topic,
            header_int(h, PREFIX + "partition"),
            header_int(h, PREFIX + "offset"),
            m.key(),
            m.value(),
            headers,
            header_int(h, PREFIX + "timestamp"),
        )
        self._count("replayed")
        return record, candidates, offset

    def tick(self, now: float, trackers: dict[tuple[str, int], PartitionTracker]) -> None:
        if not self.tty or now - self._progress_at <= 0.5:
            return
        self._progress_at = now
        done = sum(max(t.position, 0) for t in trackers.values())
        c = self.counts
        sys.stderr.write(
            f"\rreplay: {done}/{sum(self.ends.values())} records  replayed {c['replayed']}  "
            f"filtered {c['filtered']}  loop-guard {c['loop_guard']}  "
            f"rule-gone {c['rule_gone']}   "
        )
        sys.stderr.flush()

    def finished(
        self,
        consumer: Positions,
        trackers: dict[tuple[str, int], PartitionTracker],
        inflight: InFlight,
    ) -> bool:
        if self.follow:
            return False
        for p, end in self.ends.items():
            if end <= 0:
                continue
            tr = trackers.get((self.topic, p))
            if tr is None:
                return False
            if tr.advance() >= end:
                continue
            if tr.tickets or _position(consumer, self.topic, p) < end:
                return False
        return inflight.events == 0


def _position(consumer: Positions, topic: str, partition: int) -> int:
    """The consumer's fetch position (past transaction markers), or -1 when unknown."""
    try:
        return int(consumer.position([TopicPartition(topic, partition)])[0].offset)
    except Exception:  # noqa: BLE001 - an unknown position means "not there yet"
        return -1
