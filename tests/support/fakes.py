"""In-process fakes for the loop's adapters: a consumer, a producer, a sender, a clock.

They behave like librdkafka where the loop depends on it: the commit callback of an
asynchronous commit runs inside the next ``consume()``; a producer's delivery reports run
inside ``poll()``/``flush()``; pausing and seeking are recorded per partition.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition

from bridge.batch import Batch
from bridge.deliver.sender import Control, Outcome


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = None
    _headers: list[tuple[str, bytes]] = field(default_factory=list)
    _error: Any = None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)

    def error(self) -> Any:
        return self._error


Step = Callable[["FakeConsumer"], Iterable[Any]] | list[Any]


class FakeConsumer:
    """Returns scripted batches from ``consume()``; a step may be a callable (run inside the
    call, e.g. a rebalance or a reload, then its messages are returned)."""

    def __init__(self, on_commit: Callable[[Any, list[TopicPartition]], None]) -> None:
        self.on_commit = on_commit
        self.steps: list[Step] = []
        self.callbacks: dict[str, Callable[..., None]] = {}
        self.topics: list[str] = []
        self.commits: list[tuple[bool, dict[tuple[str, int], int]]] = []
        self.paused: set[tuple[str, int]] = set()
        self.seeks: list[tuple[str, int, int]] = []
        self.positions: dict[tuple[str, int], int] = {}
        self.acks: list[tuple[Any, list[TopicPartition]]] = []  # delivered in the next consume
        self.ack_commits = True
        self.closed = False
        self.metadata_log: list[tuple[tuple[str, int], str]] = []  # (partition, map) per commit

    # -- scripting -------------------------------------------------------------------------
    def then(self, step: Step) -> FakeConsumer:
        self.steps.append(step)
        return self

    def assign(self, topic: str, *partitions: int) -> None:
        self.callbacks["on_assign"](self, [TopicPartition(topic, p) for p in partitions])

    def revoke(self, topic: str, *partitions: int) -> None:
        self.callbacks["on_revoke"](self, [TopicPartition(topic, p) for p in partitions])

    def committed(self, partitions: list[TopicPartition] | None = None, timeout: float = -1) -> Any:
        """Without arguments: the latest offset committed per partition (sync or async).
        With partitions (the Consumer API, used on assignment): ``TopicPartition``s with the
        offset and metadata committed last (-1001 when none)."""
        out: dict[tuple[str, int], int] = {}
        meta: dict[tuple[str, int], str] = {}
        for _sync, offs in self.commits:
            out.update(offs)
        for key, text in self.metadata_log:
            meta[key] = text
        if partitions is None:
            return out
        return [
            TopicPartition(
                t.topic,
                t.partition,
                out.get((t.topic, t.partition), -1001),
                metadata=meta.get((t.topic, t.partition), ""),
            )
            for t in partitions
        ]

    # -- the Consumer API ------------------------------------------------------------------
    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.topics = topics
        self.callbacks = callbacks

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        acks, self.acks = self.acks, []
        for err, parts in acks:
            self.on_commit(err, parts)
        if not self.steps:
            return []
        step = self.steps.pop(0)
        return list(step(self) if callable(step) else step)

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> Any:
        self.commits.append((not asynchronous, {(t.topic, t.partition): t.offset for t in offsets}))
        self.metadata_log.extend(((t.topic, t.partition), t.metadata or "") for t in offsets)
        result = [
            TopicPartition(t.topic, t.partition, t.offset, metadata=t.metadata) for t in offsets
        ]
        if asynchronous:
            if self.ack_commits:
                self.acks.append((None, result))
            return None
        return result

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {(t.topic, t.partition) for t in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {(t.topic, t.partition) for t in partitions}

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.topic, partition.partition, partition.offset))

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(t.topic, t.partition, self.positions.get((t.topic, t.partition), -1001))
            for t in partitions
        ]

    def close(self) -> None:
        self.closed = True


class FakeProducer:
    """Keeps produced records; delivery reports run in ``poll``/``flush`` (when ``acking``)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._pending: list[Callable[[Any, Any], None]] = []
        self.acking = True

    def produce(self, topic: str, **kw: Any) -> None:
        self.records.append({"topic": topic, **kw})
        self._pending.append(kw["on_delivery"])

    def poll(self, _timeout: float = 0) -> int:
        if not self.acking:
            return 0
        pending, self._pending = self._pending, []
        for cb in pending:
            cb(None, None)
        return len(pending)

    def flush(self, _timeout: float = 0) -> int:
        self.poll()
        return len(self._pending)

    def headers(self, i: int) -> dict[str, str]:
        return {k: v.decode() for k, v in self.records[i]["headers"] or []}


class FakeSender:
    """Keeps submitted batches; a test answers them with :meth:`answer`."""

    def __init__(self, outcomes: queue.SimpleQueue[Outcome | Control]) -> None:
        self.outcomes = outcomes
        self.batches: list[Batch] = []
        self.auto_accept = False
        self.started = self.closed = False

    @property
    def in_flight(self) -> int:
        return 0

    def start(self) -> None:
        self.started = True

    def submit(self, batch: Batch) -> None:
        self.batches.append(batch)
        if self.auto_accept:
            self.answer(batch, accepted=True)

    def close(self) -> None:
        self.closed = True

    def answer(self, batch: Batch, *, accepted: bool, status: int = 200, reason: str = "") -> None:
        if accepted:
            self.outcomes.put(Outcome.success(batch, status=status))
        else:
            self.outcomes.put(
                Outcome.failure(
                    batch,
                    status=status,
                    reason=reason,
                    message=reason,
                    attempts=1,
                    first_failure=0.0,
                    last_failure=0.0,
                )
            )

    def answer_all(self, *, accepted: bool = True, status: int = 200, reason: str = "") -> None:
        for b in self.batches:
            self.answer(b, accepted=accepted, status=status, reason=reason)
        self.batches = []


class FakeClock:
    """A monotonic and a wall clock that only move when told to (or when slept on)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Rig:
    """A real :class:`bridge.processing.loop.Loop`, built by the composition root around fakes."""

    loop: Any
    consumer: FakeConsumer
    producer: FakeProducer
    sender: Any  # a FakeSender, or what the caller passed
    clock: FakeClock
    metrics: Any
    health: Any
    outcomes: queue.SimpleQueue[Outcome | Control]

    def poll(self, times: int = 1) -> None:
        for _ in range(times):
            self.loop.poll_once(0.0, 500)

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        v = self.metrics.registry.get_sample_value(name, labels or {})
        return 0.0 if v is None else float(v)


def build_rig(
    settings: Any,
    source: Any = None,
    metrics: Any = None,
    state: Any = None,
    sender: Callable[[queue.SimpleQueue[Outcome | Control]], Any] | None = None,
) -> Rig:
    """The loop for ``settings`` with a fake consumer, producer, sender and clock;
    ``sender`` builds another sender around the outcome queue (one per workspace, say)."""
    from bridge import app
    from bridge.ops.health import HealthState
    from bridge.ops.metrics import Metrics
    from bridge.ruleset import compile_rules

    metrics = metrics or Metrics()
    health = HealthState(metrics, 30.0)
    outcomes: queue.SimpleQueue[Outcome | Control] = queue.SimpleQueue()
    sender = (sender or FakeSender)(outcomes)
    producer = FakeProducer()
    clock = FakeClock()
    consumer = FakeConsumer(lambda err, parts: None)
    loop = app.build(
        settings,
        compile_rules(settings),
        metrics,
        health,
        base_dir=__import__("pathlib").Path("."),
        consumer=consumer,
        producer=producer,  # type: ignore[arg-type]
        sender=sender,
        outcomes=outcomes,
        source=source,
        clock=clock,
        state=state,
    )
    consumer.on_commit = loop.committer.on_commit
    loop.start()
    return Rig(loop, consumer, producer, sender, clock, metrics, health, outcomes)
