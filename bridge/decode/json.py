"""JSON decoding with orjson."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from bridge.errors import DecodeError
from bridge.models import Record

# orjson reads integers beyond 64 bits as floats, silently changing them (#16 D16); a run of
# 20+ digits (rare, found in C at memory speed) re-reads the document with the stdlib parser,
# which keeps them exact, so they are delivered as they were or refused with a clear reason.
_LONG_DIGITS = re.compile(rb"\d{20}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class JsonDecoder:
    """Decode the record value as JSON; an empty or invalid value is a DecodeError."""

    name = "json"

    def decode(self, record: Record) -> Any:
        if record.value is None:
            raise DecodeError("record has no value (tombstone)")
        try:
            value = orjson.loads(record.value)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"invalid JSON: {exc}") from exc
        if _LONG_DIGITS.search(record.value) is None:
            return value
        try:  # valid for orjson, so valid for json; only big integers come out differently
            return json.loads(record.value, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            return value
