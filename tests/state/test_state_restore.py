"""Restore of the state store on the real broker: after kill -9 with the store intact only
what changed since the checkpoint is read; with it wiped, the whole topic; expired keys are
tombstoned in the topic; a late cancel after expiry is remembered, not sent."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from bridge.kafka.state import StateStore
from bridge.settings import KafkaSettings
from tests.support.kafka import create_topics, produce, read_all, unique

pytestmark = pytest.mark.integration

WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from bridge.kafka.state import StateStore
    from bridge.settings import KafkaSettings
    from tests.support.wait import wait_for
    boot, topic, d, n = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    s = StateStore(KafkaSettings(bootstrap_servers=boot, state_topic=topic), store_dir=d)
    s.load()
    base = len(s)
    for i in range(n):
        s.put(f"schedule/r/{base + i}", {"status": "active", "time": "2099-01-01T00:00:00Z"})
    s.flush(30)
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": boot, "group.id": "probe"})
    end = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=15)[1]
    c.close()
    wait_for(
        "the tail to apply (and checkpoint) its writes",
        lambda: s._db.positions().get(0, 0) >= end,
        30,
        0.05,
    )
    print("ready", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def kafka(boot: str, topic: str, **kw: object) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=boot, state_topic=topic, **kw)  # type: ignore[arg-type]


def write_and_kill(boot: str, topic: str, d: Path, n: int) -> None:
    p = subprocess.run(
        [sys.executable, "-c", WRITER, boot, topic, str(d), str(n)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    assert "ready" in p.stdout


def test_restart_reads_only_what_changed_and_a_wiped_store_reads_everything(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = unique("state")
    create_topics(kafka_bootstrap, {topic: 1}, {"cleanup.policy": "compact"})
    d = tmp_path / "store"
    write_and_kill(kafka_bootstrap, topic, d, 300)  # 300 keys, killed with the store intact
    # Meanwhile another replica writes 40 more keys.
    produce(
        kafka_bootstrap,
        [
            (topic, f"schedule/other/{i}".encode(), orjson.dumps({"status": "active"}), None)
            for i in range(40)
        ],
    )
    s = StateStore(kafka(kafka_bootstrap, topic), store_dir=d)
    assert s.load() == 340
    assert s.restored == 40  # only the records written after the checkpoint were read
    s.close()

    shutil.rmtree(d)
    fresh = StateStore(kafka(kafka_bootstrap, topic), store_dir=d)
    assert fresh.load() == 340
    assert fresh.restored == 340
    fresh.close()


def test_store_of_another_topic_incarnation_is_not_trusted(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A checkpoint past the topic's end (topic deleted and recreated) starts over."""
    topic = unique("state")
    create_topics(kafka_bootstrap, {topic: 1}, {"cleanup.policy": "compact"})
    d = tmp_path / "store"
    write_and_kill(kafka_bootstrap, topic, d, 50)
    other = unique("state")
    create_topics(kafka_bootstrap, {other: 1}, {"cleanup.policy": "compact"})
    produce(kafka_bootstrap, [(other, b"schedule/x/1", orjson.dumps({"status": "active"}), None)])
    # Same file name as the first topic's store, but pointed at a shorter topic:
    (d / f"{other}.sqlite").write_bytes((d / f"{topic}.sqlite").read_bytes())
    s = StateStore(kafka(kafka_bootstrap, other), store_dir=d)
    assert s.load() == 1
    s.close()


def test_expired_keys_are_tombstoned_and_a_late_cancel_is_remembered(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    from bridge.actions.base import Item, Shape
    from bridge.models import Record
    from bridge.offsets import InFlight, PartitionTracker
    from bridge.ops.metrics import Metrics
    from bridge.schedules import ScheduleCoordinator

    topic = unique("state")
    create_topics(kafka_bootstrap, {topic: 1}, {"cleanup.policy": "compact"})
    s = StateStore(kafka(kafka_bootstrap, topic, state_expiry_grace_s=60), store_dir=tmp_path)
    s.load()
    s.put(
        "schedule/r/old",
        {"status": "active", "schedule_id": "s-old", "time": "2020-01-01T00:00:00Z"},
    )
    s.put(
        "schedule/r/new",
        {"status": "active", "schedule_id": "s-new", "time": "2099-01-01T00:00:00Z"},
    )
    s.flush(30)
    assert s.expire() == 1
    s.flush(30)
    records = {(m.key(), m.value()) for m in read_all(kafka_bootstrap, topic)}
    assert (b"schedule/r/old", None) in records  # the tombstone compaction will drop
    assert s.get("schedule/r/old") is None and s.get("schedule/r/new") is not None

    # A cancel for the expired schedule: nothing is sent to Braze, the cancel is remembered.
    sent: list[object] = []
    metrics = Metrics()
    coord = ScheduleCoordinator(s, sent.append, metrics)
    tracker = PartitionTracker("orders", 0, InFlight())
    ticket = tracker.track(Record("orders", 0, 5, None, b"{}", (), 0), 2)
    ticket.add()
    shape = Shape.make(
        "POST",
        "/campaigns/trigger/schedule/delete",
        {"campaign_id": "c"},
        None,
        1,
        "default",
        "schedule_delete",
    )
    coord.handle(Item(ticket, "r", shape, "old", {}, state_key="schedule/r/old"))
    assert sent == []
    s.flush(30)
    s.poll()
    assert (s.get("schedule/r/old") or {}).get("status") == "cancelled"
    assert metrics.schedule_ops.labels("cancel_unknown_remembered")._value.get() == 1
    s.close()
