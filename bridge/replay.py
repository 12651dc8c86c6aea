"""``braze-bridge replay``: run dead letters through today's rules and delivery.

Reads the dead-letter topic with its own consumer group (``<group_id>.replay`` by default),
so its progress is committed like the bridge's. For each record it restores the original
event (topic, key, value, headers) and runs only the rule named in its
``__bridge.errors.rule`` header (all rules of the topic for decode failures), so rules that
already succeeded for that event do not send again. A record that fails again is written
back to the dead-letter topic with ``__bridge.replay.count`` + 1; records already replayed
``--max-replays`` times are left alone (loop guard against poison records).

Filters: ``--rule``, ``--error-class``, ``--since`` / ``--until`` (when it was dead-lettered).
Without ``--follow`` it stops at the end offsets it saw at start.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from bridge import app
from bridge.errors import ConfigError
from bridge.kafka.deadletter import PREFIX, REPLAY_COUNT
from bridge.kafka.rdlog import kafka_logger
from bridge.models import Record
from bridge.pipeline import Pipeline
from bridge.rules.times import to_datetime
from bridge.signals import Signals

log = logging.getLogger("bridge.replay")


@dataclass
class ReplayFilter:
    rules: set[str] = field(default_factory=set)
    classes: set[str] = field(default_factory=set)
    since_ms: int | None = None
    until_ms: int | None = None
    max_replays: int = 3


def parse_time(text: str, flag: str) -> int:
    """An ISO-8601 time (naive = UTC) as epoch millis."""
    try:
        return int(to_datetime(text).timestamp() * 1000)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {text!r} is not an ISO-8601 time") from exc


class ReplayPipeline(Pipeline):
    """The bridge's pipeline, fed from the dead-letter topic."""

    def __init__(self, *args: Any, filt: ReplayFilter, follow: bool, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.filt = filt
        self.follow = follow
        self.ends: dict[int, int] = {}
        self.counts = {"replayed": 0, "filtered": 0, "loop_guard": 0, "rule_gone": 0}
        self._progress_at = 0.0
        self._tty = sys.stderr.isatty()

    def subscriptions(self) -> list[str]:
        return [self.settings.kafka.dead_letter_topic]

    def capture_ends(self) -> None:
        topic = self.settings.kafka.dead_letter_topic
        c = Consumer(
            {
                **self.settings.kafka.properties,
                "bootstrap.servers": self.settings.kafka.bootstrap_servers,
                "group.id": "braze-bridge-replay-probe",
                "logger": kafka_logger("replay-probe"),
            }
        )
        try:
            md = c.list_topics(topic, timeout=15)
            for p in md.topics[topic].partitions:
                self.ends[p] = c.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1]
        finally:
            c.close()

    def _count(self, what: str) -> None:
        self.counts[what] += 1
        self.metrics.replayed.labels(what).inc()

    def _handle(self, m: Message, topic: str) -> None:
        partition = m.partition() or 0
        tracker = self.trackers.get((topic, partition))
        if tracker is None or tracker.revoked:
            return
        offset = m.offset() or 0
        if not self.follow and offset >= self.ends.get(partition, 0):
            return  # written after the replay started (e.g. its own new dead letters)
        h: dict[str, str] = {}
        hs = m.headers() or []
        pairs = list(hs.items()) if isinstance(hs, dict) else list(hs)
        raw_headers: list[tuple[str, bytes | None]] = [
            (str(k), v if isinstance(v, bytes) or v is None else str(v).encode()) for k, v in pairs
        ]
        for k, v in raw_headers:
            h[k] = (v or b"").decode("utf-8", "replace") if isinstance(v, bytes) else str(v or "")
        f = self.filt
        rule = h.get(PREFIX + "rule")
        cls = h.get(PREFIX + "class", "")
        when = int(h.get(PREFIX + "time", "0") or 0)
        count = int(h.get(REPLAY_COUNT, "0") or 0)
        if (
            (f.rules and rule not in f.rules)
            or (f.classes and cls not in f.classes)
            or (f.since_ms is not None and when < f.since_ms)
            or (f.until_ms is not None and when > f.until_ms)
        ):
            tracker.skip(offset)
            self._count("filtered")
            return
        if count >= f.max_replays:
            tracker.skip(offset)
            self._count("loop_guard")
            log.warning(
                "not replaying: replayed %d times already",
                count,
                extra={"partition": partition, "offset": offset},
            )
            return
        orig_topic = h.get(PREFIX + "topic", "")
        rules = self.rules.for_topic(orig_topic)
        if rule:
            rules = tuple(r for r in rules if r.name == rule)
        if not rules:
            tracker.skip(offset)
            self._count("rule_gone")
            log.warning(
                "not replaying: no rule %r reads topic %r any more",
                rule,
                orig_topic,
                extra={"partition": partition, "offset": offset},
            )
            return
        headers = tuple(
            (k, v) for k, v in raw_headers if not k.startswith(PREFIX) and k != REPLAY_COUNT
        ) + ((REPLAY_COUNT, str(count + 1).encode()),)
        record = Record(
            orig_topic,
            int(h.get(PREFIX + "partition", "0") or 0),
            int(h.get(PREFIX + "offset", "0") or 0),
            m.key(),
            m.value(),
            headers,
            int(h.get(PREFIX + "timestamp", "0") or 0),
        )
        self._count("replayed")
        self._process(tracker, record, rules, offset)

    def _tick(self, now: float) -> None:
        super()._tick(now)
        if self._tty and now - self._progress_at > 0.5:
            self._progress_at = now
            done = sum(max(t.position, 0) for t in self.trackers.values())
            total = sum(self.ends.values())
            c = self.counts
            sys.stderr.write(
                f"\rreplay: {done}/{total} records  replayed {c['replayed']}  "
                f"filtered {c['filtered']}  loop-guard {c['loop_guard']}  "
                f"rule-gone {c['rule_gone']}   "
            )
            sys.stderr.flush()
        if not self.follow and self._finished():
            self.stop()

    def _finished(self) -> bool:
        topic = self.settings.kafka.dead_letter_topic

        for p, end in self.ends.items():
            if end <= 0:
                continue
            tr = self.trackers.get((topic, p))
            if tr is None or tr.advance() < end:
                return False
        return self.inflight.events == 0


def run(config: str, filt: ReplayFilter, group: str | None, follow: bool) -> int:
    path = Path(config)
    signals = Signals.install()
    settings, rules, metrics, health, server = app.setup(path)
    kafka = settings.kafka.model_copy(
        update={"group_id": group or f"{settings.kafka.group_id}.replay"}
    )
    pipeline = app.build(
        path,
        settings,
        rules,
        metrics,
        health,
        kafka=kafka,
        pipeline_cls=ReplayPipeline,
        filt=filt,
        follow=follow,
    )
    assert isinstance(pipeline, ReplayPipeline)  # noqa: S101
    pipeline.capture_ends()
    signals.attach(pipeline)
    t0 = time.monotonic()
    try:
        pipeline.run()
    finally:
        if server:
            server.stop()
    c = pipeline.counts
    if pipeline._tty:
        sys.stderr.write("\n")
    print(
        f"replay done in {time.monotonic() - t0:.1f}s: replayed {c['replayed']}, "
        f"filtered {c['filtered']}, loop-guard {c['loop_guard']}, rule-gone {c['rule_gone']}"
    )
    return 0
