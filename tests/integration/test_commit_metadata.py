"""Kafka keeps the completed-work map with the offset (issue 11), on the harness broker.

* ``commit()`` with ``TopicPartition(topic, p, offset, metadata=...)`` and ``committed()`` from
  another consumer of the group round-trip the map byte for byte, for a map at the size limit;
* re-committing the same offset with new metadata replaces the metadata;
* metadata over the broker's ``offset.metadata.max.bytes`` (4096 by default) is refused per
  partition with ``OFFSET_METADATA_TOO_LARGE`` (librdkafka: "Broker: Offset metadata string
  too large", code 12): that partition keeps its previous commit, the other partitions of the
  same request are committed. A synchronous ``commit()`` raises ``KafkaException``; an
  asynchronous one reports the error in ``on_commit`` on *every* partition of the request
  (``tp.error``), committed or not. The committer must handle it without knowing which
  partition was refused: ``bridge.completions.refused_too_large``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from bridge import offsetmap as om
from tests.support.kafka import create_topics, produce, unique

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


CALLBACKS: list[tuple[KafkaError | None, list[TopicPartition]]] = []


def on_commit(err: KafkaError | None, partitions: list[TopicPartition]) -> None:
    CALLBACKS.append((err, partitions))


@pytest.fixture
def member(kafka_bootstrap: str) -> Iterator[tuple[Consumer, str, str]]:
    """A consumer that joined its group and owns both partitions of a fresh topic (async
    commit results go to ``CALLBACKS``, as the bridge's go to ``on_commit``)."""
    CALLBACKS.clear()
    topic, group = unique("meta"), unique("meta-grp")
    create_topics(kafka_bootstrap, {topic: 2})
    produce(kafka_bootstrap, [(topic, None, b"x", p) for p in (0, 1) for _ in range(20)])
    c = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "on_commit": on_commit,
        }
    )
    c.subscribe([topic])
    deadline = time.monotonic() + 60
    while len(c.assignment()) < 2:
        assert time.monotonic() < deadline, "no assignment within 60 s"
        c.poll(0.2)
    try:
        yield c, topic, group
    finally:
        c.close()


def committed(bootstrap: str, group: str, topic: str) -> dict[int, tuple[int, str | None]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        res = c.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
        return {tp.partition: (tp.offset, tp.metadata) for tp in res}
    finally:
        c.close()


def full_map(base: int) -> str:
    """A real map as close to the 4096-byte default limit as the codec gets."""
    done = set(random.Random(9).sample(range(base + 1, base + 100_000), 20_000))
    f = om.fit(base, done, {base + 3: frozenset({"shipped-email"})}, budget=om.DEFAULT_BUDGET)
    assert f.limit is not None and 4000 < len(f.text) <= 4096
    return f.text


def test_metadata_round_trips_through_commit_and_committed(
    kafka_bootstrap: str, member: tuple[Consumer, str, str]
) -> None:
    c, topic, group = member
    big = full_map(5)
    small = om.encode(7, {9, 10, 12}, {8: frozenset({"vip.push"})})
    assert small
    c.commit(
        offsets=[
            TopicPartition(topic, 0, 5, metadata=big),
            TopicPartition(topic, 1, 7, metadata=small),
        ],
        asynchronous=False,
    )
    got = committed(kafka_bootstrap, group, topic)
    assert got == {0: (5, big), 1: (7, small)}
    back = om.decode(7, got[1][1])
    assert back.reason is None
    assert [o for o in range(7, 13) if back.is_done(o)] == [9, 10, 12]
    assert back.done_rules(8) == {"vip.push"}
    assert om.decode(5, got[0][1]).reason is None

    # the same position again with a new map (a metadata-only re-commit), then a plain commit
    newer = om.encode(7, {8, 9, 10, 12})
    assert newer
    c.commit(offsets=[TopicPartition(topic, 1, 7, metadata=newer)], asynchronous=False)
    assert committed(kafka_bootstrap, group, topic)[1] == (7, newer)
    c.commit(offsets=[TopicPartition(topic, 1, 13)], asynchronous=False)
    offset, meta = committed(kafka_bootstrap, group, topic)[1]
    assert offset == 13 and not meta
    assert om.decode(13, meta).reason == "no metadata"


def test_metadata_over_the_broker_limit_is_refused_per_partition(
    kafka_bootstrap: str, member: tuple[Consumer, str, str]
) -> None:
    c, topic, group = member
    ok = om.encode(3, {4, 6})
    assert ok
    c.commit(offsets=[TopicPartition(topic, 0, 3, metadata=ok)], asynchronous=False)
    too_big = om.PREFIX + "A" * (4097 - len(om.PREFIX))
    err: KafkaError | None = None
    try:
        res = c.commit(
            offsets=[
                TopicPartition(topic, 0, 9, metadata=too_big),
                TopicPartition(topic, 1, 4, metadata=ok),
            ],
            asynchronous=False,
        )
    except KafkaException as exc:  # librdkafka raises when any partition failed
        err = exc.args[0]
        res = None
    print(f"commit with {len(too_big)}-byte metadata: exception={err!r} result={res!r}")
    assert err is not None
    assert err.code() == KafkaError.OFFSET_METADATA_TOO_LARGE, err
    got = committed(kafka_bootstrap, group, topic)
    sizes = {p: (o, len(m or "")) for p, (o, m) in got.items()}
    print(f"committed after the refused commit: {sizes}")
    assert got[0] == (3, ok)  # the refused partition keeps its previous commit
    assert got[1] == (4, ok)  # the other partition of the same request was committed

    # the bridge commits asynchronously: librdkafka (2.16) then sets the error on EVERY partition
    # of the request, although the broker committed the ones whose metadata fitted - the
    # committer cannot tell from the callback which partition was refused
    CALLBACKS.clear()
    c.commit(
        offsets=[
            TopicPartition(topic, 0, 10, metadata=too_big),
            TopicPartition(topic, 1, 5, metadata=ok),
        ],
        asynchronous=True,
    )
    deadline = time.monotonic() + 30
    while not CALLBACKS:
        assert time.monotonic() < deadline, "no commit callback within 30 s"
        c.poll(0.1)
    cb_err, parts = CALLBACKS[0]
    per_partition = {tp.partition: tp.error.code() if tp.error else None for tp in parts}
    after = committed(kafka_bootstrap, group, topic)
    print(f"async commit callback: err={cb_err!r} partitions={per_partition} committed={after}")
    assert cb_err is not None and cb_err.code() == KafkaError.OFFSET_METADATA_TOO_LARGE
    assert per_partition == {
        0: KafkaError.OFFSET_METADATA_TOO_LARGE,
        1: KafkaError.OFFSET_METADATA_TOO_LARGE,
    }
    assert after == {0: (3, ok), 1: (5, ok)}
