"""Shared state in a compacted Kafka topic: schedule ids and created send ids.

Every replica reads the whole topic at start-up and keeps tailing it, so after any restart or
rebalance any replica can update or cancel any schedule. Keys:

    schedule/<schedule name>/<business key>  -> {"status": "active", "schedule_id", ...}
                                                 or {"status": "cancelled", "at": ms}
    send_id/<campaign id>/<send id>          -> {"created": ms}

Writes update the local view at once and call ``on_ack`` once Kafka acknowledged them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bridge.errors import SourceError
from bridge.kafka.clients import produce_until_acked
from bridge.kafka.rdlog import kafka_logger
from bridge.settings import KafkaSettings

log = logging.getLogger("bridge.kafka.state")


class StateStore:
    """A replicated dict backed by a compacted topic."""

    def __init__(self, kafka: KafkaSettings, producer: Producer | None = None) -> None:
        self.topic = kafka.state_topic
        self._props = {**kafka.properties, "bootstrap.servers": kafka.bootstrap_servers}
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._producer = producer or Producer(
            {**self._props, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
            | {"logger": kafka_logger("state-producer")}
        )
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.pending = 0

    # -- lifecycle -------------------------------------------------------------------------
    def ensure_topic(self, partitions: int = 1) -> None:
        conf: dict[str, Any] = {**self._props, "logger": kafka_logger("state-admin")}
        admin = AdminClient(conf)
        md = admin.list_topics(timeout=15)
        if self.topic in md.topics:
            return
        fut = admin.create_topics(
            [
                NewTopic(
                    self.topic,
                    num_partitions=partitions,
                    replication_factor=-1,
                    config={"cleanup.policy": "compact"},
                )
            ]
        )[self.topic]
        try:
            fut.result(30)
            log.info("created compacted state topic", extra={"topic": self.topic})
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return
            raise SourceError(
                f"state topic {self.topic!r} does not exist and cannot be created ({exc}); "
                "create it with cleanup.policy=compact"
            ) from exc

    def load(self, timeout_s: float = 60.0) -> int:
        """Read the topic to its end, then keep tailing it in a thread; return keys loaded."""
        c = Consumer(
            {
                **self._props,
                "group.id": f"braze-bridge-state-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
                "logger": kafka_logger("state-consumer"),
            }
        )
        md = c.list_topics(self.topic, timeout=15)
        parts = list(md.topics[self.topic].partitions)
        ends = {}
        for p in parts:
            _lo, hi = c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=15)
            ends[p] = hi
        c.assign([TopicPartition(self.topic, p, 0) for p in parts])
        deadline = time.monotonic() + timeout_s
        pos = dict.fromkeys(parts, 0)
        while any(pos[p] < ends[p] for p in parts):
            if time.monotonic() > deadline:
                raise SourceError(f"state topic {self.topic!r} could not be read in {timeout_s}s")
            for m in c.consume(500, 0.5):
                if m.error() is None:
                    self._apply(m)
                    pos[m.partition() or 0] = (m.offset() or 0) + 1
        self._consumer = c
        self._thread = threading.Thread(target=self._tail, name="state-tail", daemon=True)
        self._thread.start()
        return len(self._data)

    def _tail(self) -> None:
        assert self._consumer is not None  # noqa: S101
        while not self._stop.is_set():
            try:
                for m in self._consumer.consume(100, 0.5):
                    if m.error() is None:
                        self._apply(m)
            except (KafkaException, RuntimeError):
                if self._stop.is_set():
                    return
                time.sleep(1)

    def _apply(self, m: Message) -> None:
        key = (m.key() or b"").decode()
        value = m.value()
        with self._lock:
            if value is None:
                self._data.pop(key, None)
            else:
                try:
                    self._data[key] = orjson.loads(value)
                except orjson.JSONDecodeError:
                    log.warning("ignoring unreadable state record", extra={"key": key})

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        if self._consumer is not None:
            self._consumer.close()
        self._producer.flush(10)

    # -- access ----------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._data.get(key)

    def items(self, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return [(k, v) for k, v in self._data.items() if k.startswith(prefix)]

    def put(
        self, key: str, value: dict[str, Any], on_ack: Callable[[], None] | None = None
    ) -> None:
        with self._lock:
            self._data[key] = value
        self.pending += 1

        def acked() -> None:
            self.pending -= 1
            if on_ack is not None:
                on_ack()

        produce_until_acked(
            self._producer, self.topic, key=key.encode(), value=orjson.dumps(value), on_ack=acked
        )

    def poll(self) -> None:
        self._producer.poll(0)

    def flush(self, timeout: float) -> None:
        self._producer.flush(timeout)
