"""The local Kafka harness (scripts/local_kafka.py) against the real broker it starts.

These tests own a broker of their own (a module-scoped state dir), separate from the
session broker of ``kafka_bootstrap``, because they stop and restart it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from confluent_kafka import Consumer, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "local-kafka"


@pytest.fixture(scope="module")
def harness(kafka_harness: ModuleType) -> ModuleType:
    return kafka_harness


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-kafka-harness")


@pytest.fixture(scope="module")
def bootstrap(harness: ModuleType, state_dir: Path) -> Iterator[str]:
    try:
        address: str = harness.start(state_dir)
    except harness.MissingToolError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    try:
        yield address
    finally:
        harness.stop(state_dir)


def _create_topic(bootstrap: str, topic: str, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=1, replication_factor=1, config=config)],
        operation_timeout=30,
    )
    futures[topic].result(timeout=30)


def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    errors: list[str] = []

    def on_delivery(err: object, _msg: Message) -> None:
        if err is not None:
            errors.append(str(err))

    producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    assert producer.flush(30) == 0, "message not delivered within 30 s"
    assert errors == []


def _consume_one(bootstrap: str, topic: str, timeout: float = 30.0) -> Message:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"harness-test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            return msg
        pytest.fail(f"no message on {topic} within {timeout} s")
    finally:
        consumer.close()


def _pid(state_dir: Path) -> int:
    return int((state_dir / "kafka.pid").read_text().strip())


def test_round_trip(bootstrap: str) -> None:
    assert bootstrap.startswith("127.0.0.1:")
    topic = f"harness-rt-{uuid.uuid4().hex[:8]}"
    _create_topic(bootstrap, topic)
    _produce(bootstrap, topic, b"k1", b"hello")
    msg = _consume_one(bootstrap, topic)
    assert (msg.key(), msg.value()) == (b"k1", b"hello")


def test_compacted_topic_can_be_created(bootstrap: str) -> None:
    topic = f"harness-compact-{uuid.uuid4().hex[:8]}"
    _create_topic(bootstrap, topic, **{"cleanup.policy": "compact"})
    _produce(bootstrap, topic, b"k", b"v")
    assert _consume_one(bootstrap, topic).value() == b"v"


def test_start_is_idempotent(harness: ModuleType, bootstrap: str, state_dir: Path) -> None:
    pid = _pid(state_dir)
    assert harness.start(state_dir) == bootstrap
    assert harness.is_running(state_dir) == bootstrap
    assert _pid(state_dir) == pid
    # The CLI prints exactly the address on stdout, and status agrees.
    for command in ("start", "status"):
        out = subprocess.run(
            [str(SCRIPT), command, "--state-dir", str(state_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout == f"{bootstrap}\n"
    assert _pid(state_dir) == pid


def test_restart_keeps_data(harness: ModuleType, bootstrap: str, state_dir: Path) -> None:
    topic = f"harness-restart-{uuid.uuid4().hex[:8]}"
    _create_topic(bootstrap, topic)
    _produce(bootstrap, topic, b"durable", b"still here")
    old_pid = _pid(state_dir)

    harness.stop(state_dir)
    assert harness.is_running(state_dir) is None
    assert not (state_dir / "kafka.pid").exists()
    status = subprocess.run(
        [str(SCRIPT), "status", "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 1 and status.stdout == ""
    harness.stop(state_dir)  # stopping a stopped broker is a no-op

    assert harness.start(state_dir) == bootstrap  # same ports, no re-format
    assert _pid(state_dir) != old_pid
    msg = _consume_one(bootstrap, topic)
    assert (msg.key(), msg.value()) == (b"durable", b"still here")


def test_stop_without_broker_is_noop(harness: ModuleType, tmp_path: Path) -> None:
    harness.stop(tmp_path)
    assert harness.is_running(tmp_path) is None


def test_cli_help_runs_with_plain_python() -> None:
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(REPO / "scripts" / "local_kafka.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0 and "start" in out.stdout
