"""#16 D1: a dead letter Kafka refuses for good is written truncated, never retried unchanged.

Real broker: a dead-letter topic with a small ``max.message.bytes`` and the producer's
default 1 MB ``message.max.bytes`` (raised in the second case, so the broker refuses).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer

from bridge.kafka.deadletter import TRUNCATED, DeadLetterWriter, context_headers
from bridge.models import Record
from tests.support.kafka import create_topics, read_all, unique
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


class CountingProducer(Producer):  # type: ignore[misc]
    """A real producer that counts produce() calls (to prove there is no hot retry)."""

    calls = 0

    def produce(self, *args: Any, **kwargs: Any) -> None:
        type(self).calls += 1
        super().produce(*args, **kwargs)


def _write(
    bootstrap: str,
    topic: str,
    value: bytes,
    producer_conf: dict[str, Any],
    headers: tuple[tuple[str, bytes | None], ...] = (("trace", b"t1"),),
) -> Any:
    CountingProducer.calls = 0
    producer = CountingProducer({"bootstrap.servers": bootstrap, **producer_conf})
    writer = DeadLetterWriter(producer, topic)
    record = Record("orders", 3, 41, b"k", value, headers, 1_700_000_000_000)
    headers = context_headers(
        record, stage="rules", error_class="RuleError", message="trigger_properties too big"
    )
    acks: list[int] = []
    writer.send(record, headers, lambda: acks.append(1))

    def acked() -> list[int]:
        writer.poll()  # delivery reports run inside poll()
        return acks

    wait_for("the dead letter acknowledged", acked, 60, 0.01)
    assert producer.flush(10) == 0
    assert acks == [1]
    assert writer.pending == 0
    return writer


@pytest.mark.parametrize(
    "producer_conf",
    [
        {},  # produce() itself raises MSG_SIZE_TOO_LARGE (the bridge exited 1 on every start)
        {"message.max.bytes": 10_000_000},  # the broker refuses (3,161 hot re-sends in 70 s)
    ],
    ids=["producer-limit", "topic-limit"],
)
def test_oversized_dead_letter_is_truncated_with_a_header(
    kafka_bootstrap: str, producer_conf: dict[str, Any]
) -> None:
    topic = unique("dlq-small")
    create_topics(kafka_bootstrap, {topic: 1}, {"max.message.bytes": "200000"})
    value = b"x" * 5_000_000
    writer = _write(kafka_bootstrap, topic, value, producer_conf)
    [m] = read_all(kafka_bootstrap, topic)
    headers = dict(m.headers())
    assert headers[TRUNCATED] == b"value=5000000"
    assert m.value() == value[: 64 * 1024]
    assert m.key() == b"k"
    assert headers["__bridge.errors.offset"] == b"41"
    assert headers["__bridge.errors.message"] == b"trigger_properties too big"
    assert headers["trace"] == b"t1"
    assert writer.truncated == 2
    assert CountingProducer.calls <= 3  # full, 900 KB, 64 KB: no retry of a permanent error


def test_dead_letter_that_fits_is_written_unchanged(kafka_bootstrap: str) -> None:
    topic = unique("dlq-ok")
    create_topics(kafka_bootstrap, {topic: 1})
    writer = _write(kafka_bootstrap, topic, b"small", {})
    [m] = read_all(kafka_bootstrap, topic)
    assert m.value() == b"small"
    assert TRUNCATED not in dict(m.headers())
    assert writer.truncated == 0
    assert CountingProducer.calls == 1


def test_oversized_original_headers_are_dropped_in_the_last_resort(kafka_bootstrap: str) -> None:
    topic = unique("dlq-hdrs")
    create_topics(kafka_bootstrap, {topic: 1}, {"max.message.bytes": "200000"})
    junk = tuple((f"h{i}", b"j" * 2000) for i in range(500))  # 1 MB of original headers
    writer = _write(kafka_bootstrap, topic, b"small", {"message.max.bytes": 10_000_000}, junk)
    [m] = read_all(kafka_bootstrap, topic)
    headers = m.headers()
    names = [k for k, _ in headers]
    original = sum(len(k) + len(v) for k, v in junk)
    assert dict(headers)[TRUNCATED] == b"headers=" + str(original).encode()
    assert m.value() == b"small"
    assert "__bridge.errors.offset" in names and "__bridge.errors.message" in names
    assert sum(len(v or b"") for k, v in headers if k.startswith("h")) <= 16 * 1024
    assert writer.truncated == 1


def test_missing_dead_letter_topic_exits_2_naming_file_and_field(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """D15: the error named the field but not the file."""
    cfg = {
        "kafka": {"bootstrap_servers": kafka_bootstrap, "dead_letter_topic": unique("no-dlq")},
        "braze": {"rest_endpoint": "http://127.0.0.1:9", "api_key": "${BRAZE_API_KEY}"},
        "observability": {"port": 0},
        "rules": [
            {
                "name": "r",
                "topic": unique("in"),
                "action": "campaign_trigger",
                "campaign_id": "c",
                "recipient": {"external_user_id": "$.id"},
            }
        ],
    }
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BRAZE_API_KEY": "a1b2c3d4"},
    )
    out = proc.stdout + proc.stderr
    # A missing topic is start-up I/O, not an invalid file (exit 1, issue 18), but the
    # message still names the file and the field (issue 16, D15).
    assert proc.returncode == 1, out
    assert f"{path}: kafka.dead_letter_topic: dead-letter topic" in out
    assert "Traceback" not in out
