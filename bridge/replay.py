"""``braze-bridge replay``: run dead letters through today's rules and delivery.

Reads the dead-letter topic with its own consumer group (``<group_id>.replay`` by default),
so its progress is committed like the bridge's. The loop is the bridge's own; only its source
differs (:class:`bridge.processing.deadletters.DeadLetterSource`: filters, loop guard, the end).

Filters: ``--rule``, ``--error-class``, ``--since`` / ``--until`` (when it was dead-lettered).
Without ``--follow`` it stops at the end offsets it saw at start.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from confluent_kafka import KafkaException

from bridge import app
from bridge.errors import ConfigError, StartupError
from bridge.kafka.clients import end_offsets
from bridge.processing.deadletters import DeadLetterSource, ReplayFilter
from bridge.rules.times import to_datetime
from bridge.signals import Signals

__all__ = ["ReplayFilter", "parse_time", "run"]


def parse_time(text: str, flag: str) -> int:
    """An ISO-8601 time (naive = UTC) as epoch millis."""
    try:
        return int(to_datetime(text).timestamp() * 1000)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {text!r} is not an ISO-8601 time") from exc


def run(config: str, filt: ReplayFilter, group: str | None, follow: bool) -> int:
    path = Path(config)
    signals = Signals.install()
    settings, rules, metrics, health, server = app.setup(path)
    try:
        kafka = settings.kafka.model_copy(
            update={"group_id": group or f"{settings.kafka.group_id}.replay"}
        )
        state = app.preflight(settings, health=health)
        topic = settings.kafka.dead_letter_topic
        try:
            ends = end_offsets(settings.kafka, topic)
        except KafkaException as exc:
            raise StartupError(f"cannot read the end offsets of {topic!r}: {exc}") from exc
        source = DeadLetterSource(topic, filt, metrics, follow=follow, ends=ends)
        loop = app.build(
            settings,
            rules,
            metrics,
            health,
            base_dir=path.parent,
            kafka=kafka,
            state=state,
            source=source,
            stop=signals.stop,
        )
        t0 = time.monotonic()
        loop.run()
    finally:
        if server:
            server.stop()
    c = source.counts
    if source.tty:
        sys.stderr.write("\n")
    bad = f", bad-header {c['bad_header']}" if c["bad_header"] else ""
    print(
        f"replay done in {time.monotonic() - t0:.1f}s: replayed {c['replayed']}, "
        f"filtered {c['filtered']}, loop-guard {c['loop_guard']}, rule-gone {c['rule_gone']}"
        f"{bad}"
    )
    return 0
