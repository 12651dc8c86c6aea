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


class DeadLetterWriter:
    """Produces dead letters; calls ``on_ack`` once Kafka has them (retrying until it does)."""

    def __init__(self, producer: Producer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.pending = 0

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

        produce_until_acked(
            self.producer, topic, key=key, value=value, on_ack=acked, headers=headers
        )

    def poll(self) -> None:
        self.producer.poll(0)

    def flush(self, timeout: float) -> int:
        return int(self.producer.flush(timeout))
