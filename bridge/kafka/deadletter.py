"""The dead-letter topic: what can never succeed, with the reason, losing nothing.

A dead-letter record keeps the original key, value and headers, and adds context headers in
the style of Kafka Connect's ``__connect.errors.*`` (see ``schemas/dead-letter.schema.json``):

    __bridge.errors.stage               decode | rules | deliver
    __bridge.errors.rule                rule name (absent for decode errors)
    __bridge.errors.class               error class (DecodeError, RuleError, bad_request, ...)
    __bridge.errors.message             human-readable reason
    __bridge.errors.http.status         Braze status (deliver stage)
    __bridge.errors.http.endpoint       Braze endpoint path
    __bridge.errors.http.response       Braze response body, truncated to 1000 bytes
    __bridge.errors.topic / .partition / .offset / .timestamp   where the event came from
    __bridge.errors.attempts            delivery attempts
    __bridge.errors.first.failure / .last.failure               epoch millis
    __bridge.errors.time                when the record was dead-lettered (epoch millis)
    __bridge.replay.count               how often the record has been replayed (loop guard)
    __bridge.errors.truncated           Kafka refused the full record: value=N[,headers=N]

An event's offset is committed only after Kafka acknowledged its dead-letter record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Producer

from bridge.kafka.clients import produce_until_acked
from bridge.models import Failure, Record

log = logging.getLogger("bridge.kafka.deadletter")

PREFIX = "__bridge.errors."
REPLAY_COUNT = "__bridge.replay.count"


def context_headers(
    record: Record,
    *,
    stage: str,
    error_class: str,
    message: str,
    rule: str | None = None,
    status: int | None = None,
    endpoint: str | None = None,
    response: str = "",
    attempts: int = 0,
    first_failure: float = 0.0,
    last_failure: float = 0.0,
) -> list[tuple[str, bytes]]:
    """The original headers (minus stale error context) plus this failure's context."""
    out: list[tuple[str, bytes]] = [
        (k, v if v is not None else b"") for k, v in record.headers if not k.startswith(PREFIX)
    ]

    def add(name: str, value: Any) -> None:
        out.append((PREFIX + name, str(value).encode("utf-8")))

    add("stage", stage)
    if rule:
        add("rule", rule)
    add("class", error_class)
    add("message", message[:2000])
    if status is not None:
        add("http.status", status)
    if endpoint:
        add("http.endpoint", endpoint)
    if response:
        add("http.response", response[:1000])
    add("topic", record.topic)
    add("partition", record.partition)
    add("offset", record.offset)
    add("timestamp", record.timestamp_ms)
    if attempts:
        add("attempts", attempts)
    if first_failure:
        add("first.failure", int(first_failure * 1000))
    if last_failure:
        add("last.failure", int(last_failure * 1000))
    add("time", int(time.time() * 1000))
    return out


def failure_headers(record: Record, failure: Failure) -> list[tuple[str, bytes]]:
    """The dead-letter headers of ``record`` failing with ``failure``."""
    return context_headers(
        record,
        stage=failure.stage,
        error_class=failure.error_class,
        message=failure.message,
        rule=failure.rule,
        status=failure.status,
        endpoint=failure.endpoint,
        response=failure.response,
        attempts=failure.attempts,
        first_failure=failure.first_failure,
        last_failure=failure.last_failure,
    )


TRUNCATED = PREFIX + "truncated"
"""Set when Kafka refused the full dead letter: ``value=<original bytes>`` and/or
``headers=<original header bytes>``; the context headers always survive."""

# What a refused record is cut down to, step by step: under librdkafka's and the broker's
# default 1 MB limits, then well under any sane topic limit, then a reference only (the
# context headers name topic, partition and offset of the original).
_VALUE_STEPS = (900_000, 64 * 1024, 0)
_HEADER_BUDGET = 16 * 1024  # original headers kept in a reduced dead letter


class DeadLetterWriter:
    """Produces dead letters; calls ``on_ack`` once Kafka has them (retrying until it does).

    A dead letter Kafka refuses for good (larger than ``message.max.bytes`` or the topic's
    ``max.message.bytes``) is written again with its value truncated (header
    ``__bridge.errors.truncated``), never retried unchanged: one oversized event must not
    crash the bridge or hold its partition.
    """

    def __init__(self, producer: Producer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.pending = 0
        self.truncated = 0  # dead letters written reduced
        self.refused = 0  # records Kafka refused even as a reference (not acknowledged)

    def send(
        self, record: Record, headers: list[tuple[str, bytes]], on_ack: Callable[[], None]
    ) -> None:
        self.produce_raw(self.topic, record.key, record.value, on_ack, headers)

    def produce_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        on_ack: Callable[[], None],
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Write any record with the dead-letter producer (also shadow requests)."""
        self.pending += 1

        def acked() -> None:
            self.pending -= 1
            on_ack()

        self._produce(topic, key, value, headers, acked, step=0)

    def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None,
        acked: Callable[[], None],
        step: int,
    ) -> None:
        """Attempt ``step``: 0 is the record as given, each further one a smaller form."""

        def refused(err: Any) -> None:
            self._reduce(topic, key, value, headers, acked, step, err)

        v, h = (value, headers) if step == 0 else _reduced(headers, value, step)
        produce_until_acked(
            self.producer, topic, key=key, value=v, on_ack=acked, headers=h, on_permanent=refused
        )

    def _reduce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None,
        acked: Callable[[], None],
        step: int,
        err: Any,
    ) -> None:
        size = len(value or b"")
        nxt = step + 1
        while nxt < len(_VALUE_STEPS) and size <= _VALUE_STEPS[nxt - 1]:
            nxt += 1  # this cut would not shrink the value: take the next one
        if nxt > len(_VALUE_STEPS):
            self.refused += 1
            log.error(
                "kafka refuses this record even reduced to a reference; it is not "
                "acknowledged and its partition does not commit past it",
                extra={"topic": topic, "error": str(err), "bytes": size},
            )
            return
        self.truncated += 1
        log.warning(
            "kafka refused the record permanently; writing it truncated",
            extra={"topic": topic, "error": str(err), "bytes": size, "attempt": nxt + 1},
        )
        self._produce(topic, key, value, headers, acked, nxt)

    def poll(self) -> None:
        self.producer.poll(0)

    def flush(self, timeout: float) -> int:
        return int(self.producer.flush(timeout))


def _reduced(
    headers: list[tuple[str, bytes]] | None, value: bytes | None, step: int
) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """Value and headers of attempt ``step`` (≥ 1), with a header saying what was cut."""
    limit = _VALUE_STEPS[step - 1]
    size = len(value or b"")
    if step == len(_VALUE_STEPS) and size <= _VALUE_STEPS[-2]:
        limit = size  # only the original headers were too large: keep the small value
    kept_value = value if value is None or size <= limit else value[:limit]
    notes = []
    if kept_value is not value:
        notes.append(f"value={size}")
    context = [(k, v) for k, v in headers or () if k.startswith(PREFIX) or k == REPLAY_COUNT]
    original = [(k, v) for k, v in headers or () if not (k.startswith(PREFIX) or k == REPLAY_COUNT)]
    original_bytes = sum(len(k) + len(v or b"") for k, v in original)
    if step >= len(_VALUE_STEPS) and original_bytes > _HEADER_BUDGET:
        budget, kept = _HEADER_BUDGET, []
        for k, v in original:
            n = len(k) + len(v or b"")
            if n <= budget:
                kept.append((k, v))
                budget -= n
        original = kept
        notes.append(f"headers={original_bytes}")
    return kept_value, [*original, *context, (TRUNCATED, ",".join(notes).encode() or b"none")]
