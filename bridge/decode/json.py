"""JSON decoding with orjson."""

from __future__ import annotations

from typing import Any

import orjson

from bridge.errors import DecodeError
from bridge.models import Record


class JsonDecoder:
    """Decode the record value as JSON; an empty or invalid value is a DecodeError."""

    name = "json"

    def decode(self, record: Record) -> Any:
        if record.value is None:
            raise DecodeError("record has no value (tombstone)")
        try:
            return orjson.loads(record.value)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"invalid JSON: {exc}") from exc
