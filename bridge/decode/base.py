"""The decoder interface: one verb, ``decode(record) -> value``.

Implementations raise :class:`bridge.errors.DecodeError` for a record that can never be
decoded (it is dead-lettered) and :class:`bridge.errors.SchemaRegistryUnavailable` for a
transient failure (the record is retried; the partition is paused meanwhile).
"""

from __future__ import annotations

from typing import Any, Protocol

from bridge.models import Record


class Decoder(Protocol):
    """Turns one record's value bytes into a JSON-like Python value."""

    def decode(self, record: Record) -> Any: ...
