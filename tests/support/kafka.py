"""Kafka helpers for tests: topics, producing, committed offsets, reading the DLQ."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.wait import poll_until, wait_for


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topics(
    bootstrap: str, topics: dict[str, int], config: dict[str, str] | None = None
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futs = admin.create_topics(
        [
            NewTopic(t, num_partitions=n, replication_factor=1, config=config or {})
            for t, n in topics.items()
        ]
    )
    for f in futs.values():
        f.result(30)

    def visible() -> bool:
        md = admin.list_topics(timeout=10)
        return all(t in md.topics and not md.topics[t].error for t in topics)

    wait_for(f"topics {sorted(topics)} to be visible", visible, 30)


def produce(
    bootstrap: str,
    messages: Iterable[tuple[str, bytes | None, bytes | None, int | None]],
    headers: list[tuple[str, bytes]] | None = None,
) -> int:
    """Produce (topic, key, value, partition) messages; return the count acknowledged."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    acked = {"n": 0, "err": None}

    def cb(err: Any, _msg: Any) -> None:
        if err is not None:
            acked["err"] = err
        else:
            acked["n"] += 1  # type: ignore[operator]

    n = 0
    for topic, key, value, partition in messages:
        kw: dict[str, Any] = {"key": key, "value": value, "on_delivery": cb}
        if partition is not None:
            kw["partition"] = partition
        if headers:
            kw["headers"] = headers
        while True:
            try:
                p.produce(topic, **kw)
                break
            except BufferError:
                p.poll(0.05)
        n += 1
    p.flush(60)
    if acked["err"] is not None:
        raise RuntimeError(f"produce failed: {acked['err']}")
    assert acked["n"] == n
    return n


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("probe")})
    try:
        md = c.list_topics(topic, timeout=10)
        out = {}
        for p in md.topics[topic].partitions:
            _lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            out[p] = hi
        return out
    finally:
        c.close()


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        md = c.list_topics(topic, timeout=10)
        tps = [TopicPartition(topic, p) for p in md.topics[topic].partitions]
        try:
            res = c.committed(tps, timeout=10)
        except KafkaException:
            return {}
        return {tp.partition: tp.offset for tp in res}
    finally:
        c.close()


def caught_up(done: dict[int, int], ends: dict[int, int]) -> bool:
    """Each partition committed up to its end offset. A partition that holds no records has
    nothing to commit and keeps no committed offset (-1001): the bridge commits what it
    processed, and keyless events can all land on one partition (librdkafka's sticky
    partitioner), so an empty partition counts as caught up."""
    return all(done.get(p) == end or (end == 0 and done.get(p, -1) < 0) for p, end in ends.items())


# Answers a broker gives while it is (re)electing leaders, e.g. just after a restart.
_TRANSIENT = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
}


def wait_committed(bootstrap: str, group: str, topics: list[str], timeout: float) -> bool:
    """True once ``group`` has committed every non-empty partition of ``topics`` up to its end
    offset (see :func:`caught_up`)."""

    def probe() -> bool:
        try:
            return all(
                caught_up(committed(bootstrap, group, t), end_offsets(bootstrap, t)) for t in topics
            )
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if err is not None and (err.retriable() or err.code() in _TRANSIENT):
                return False  # e.g. NOT_LEADER_FOR_PARTITION just after a broker restart
            raise

    return bool(poll_until(probe, timeout, 0.5))


def read_all(bootstrap: str, topic: str, timeout: float = 15) -> list[Any]:
    """Every message currently in ``topic`` (confluent Message objects)."""
    ends = end_offsets(bootstrap, topic)
    total = sum(ends.values())
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("reader"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, p, 0) for p in ends])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < total and time.monotonic() < deadline:
            for m in c.consume(500, 0.5):
                if m.error() is None:
                    out.append(m)
    finally:
        c.close()
    return out
