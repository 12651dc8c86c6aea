"""Typed records passed between pipeline stages.

A :class:`Record` is the raw Kafka message; it stays attached to everything derived
from it until every action has a final outcome, so its offset can be committed and its
original bytes can be dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Headers = tuple[tuple[str, bytes | None], ...]


@dataclass(slots=True)
class Record:
    """One Kafka message as consumed (or as read from a file by ``preview``).

    Treated as immutable; not ``frozen`` only because a frozen dataclass costs three times
    as much to create, once per consumed event.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int = 0

    def header(self, name: str) -> bytes | None:
        """The last value of header ``name`` (Kafka allows repeats), or None."""
        found: bytes | None = None
        for k, v in self.headers:
            if k == name:
                found = v
        return found


@dataclass(slots=True)
class Event:
    """A decoded record: ``value`` is the JSON-like payload (dicts, lists, scalars)."""

    record: Record
    value: Any


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an event (or one rule's part of it) can never succeed; produced by every stage and
    rendered once into dead-letter headers (:func:`bridge.kafka.deadletter.failure_headers`).

    ``error_class`` is the vocabulary of the ``__bridge.errors.class`` header and of
    ``replay --error-class``: the exception class name for decode and rule failures
    (``DecodeError``, ``RuleError``, ...), the delivery verdict for deliver failures
    (``bad_request``, ``not_found``, ...).
    """

    stage: str  # decode | rules | deliver
    error_class: str
    message: str
    rule: str | None = None
    status: int | None = None
    endpoint: str | None = None
    response: str = ""
    attempts: int = 0
    first_failure: float = 0.0
    last_failure: float = 0.0
