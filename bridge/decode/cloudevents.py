"""CloudEvents (v1.0) over Kafka: structured and binary content modes, one envelope shape.

Whatever the mode, a record decodes to the same dict, so rules read ``$.type``,
``$.source``, ``$.time`` or ``$.data.user.id`` without caring how it was produced::

    {"specversion": "1.0", "id": "...", "source": "...", "type": "...",
     "time": "...", "datacontenttype": "...", <extensions...>, "data": <decoded data>}

* **structured** — the record value is the JSON event (``application/cloudevents+json``).
  ``data`` is taken as is; ``data_base64`` is base64-decoded and the bytes are handed to
  the inner decoder (so a JSON or Avro payload is decoded like a plain record), except a
  ``text/*`` (non-JSON) ``datacontenttype``, which yields a ``str``. ``data_base64`` is
  replaced by ``data`` in the result.
* **binary** — attributes travel in ``ce_<name>`` headers (UTF-8), the ``content-type``
  header is ``datacontenttype``, and the record value is the data, decoded by the inner
  decoder (a ``text/*`` content type yields a ``str``). A record without a value has
  ``"data": None``.
* **auto** — per record: a ``content-type`` header starting with
  ``application/cloudevents`` means structured; a ``ce_specversion`` header means binary;
  without either, a value that is a JSON object with a ``specversion`` member is taken as
  structured (many producers omit the header). Anything else is a ``DecodeError``.

The required attributes ``specversion``, ``id``, ``source`` and ``type`` must be present
and non-empty; missing ones are named in the ``DecodeError``. Batched mode
(``application/cloudevents-batch+json``) is not supported: such a record is a
``DecodeError``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import Any, Literal

import orjson

from bridge.decode.base import Decoder
from bridge.errors import DecodeError
from bridge.models import Record

CloudEventsContentMode = Literal["structured", "binary", "auto"]

REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
HEADER_PREFIX = "ce_"
STRUCTURED_CONTENT_TYPE = "application/cloudevents"


def _header_text(name: str, value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"CloudEvents header {name!r} is not valid UTF-8") from exc


def _content_type(record: Record) -> str | None:
    for name, value in reversed(record.headers):
        if name.lower() == "content-type":
            return _header_text(name, value)
    return None


def _is_text_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") and not media.endswith("json")


def _check_required(event: dict[str, Any], mode: str) -> None:
    missing = [a for a in REQUIRED_ATTRIBUTES if event.get(a) in (None, "")]
    if missing:
        raise DecodeError(
            f"CloudEvent ({mode} mode) is missing required attribute(s): {', '.join(missing)}"
        )


class CloudEventsDecoder:
    """Wrap ``inner`` (which decodes the event data) to produce CloudEvents envelopes."""

    name = "cloudevents"

    def __init__(self, inner: Decoder, mode: CloudEventsContentMode = "auto") -> None:
        if mode not in ("structured", "binary", "auto"):
            raise ValueError(f"unknown CloudEvents mode {mode!r}")
        self.inner = inner
        self.mode = mode

    def decode(self, record: Record) -> Any:
        if self.mode == "structured":
            return self._structured(record, None)
        if self.mode == "binary":
            return self._binary(record)
        content_type = _content_type(record)
        if content_type is not None and content_type.strip().lower().startswith(
            STRUCTURED_CONTENT_TYPE
        ):
            return self._structured(record, None)
        if record.header(HEADER_PREFIX + "specversion") is not None:
            return self._binary(record)
        value = record.value
        if value is not None and value.lstrip()[:1] == b"{":
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict) and "specversion" in parsed:
                return self._structured(record, parsed)
        raise DecodeError(
            "not a CloudEvent: no 'content-type: application/cloudevents+json' header, no "
            "'ce_specversion' header, and the value is not a JSON object with 'specversion'"
        )

    # -- structured ------------------------------------------------------------------

    def _structured(self, record: Record, parsed: Any) -> dict[str, Any]:
        if parsed is None:
            if record.value is None:
                raise DecodeError("structured CloudEvent record has no value (tombstone)")
            try:
                parsed = orjson.loads(record.value)
            except orjson.JSONDecodeError as exc:
                raise DecodeError(f"structured CloudEvent is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise DecodeError(
                f"structured CloudEvent must be a JSON object, got {type(parsed).__name__}"
            )
        event: dict[str, Any] = parsed
        _check_required(event, "structured")
        if "data_base64" in event:
            if "data" in event:
                raise DecodeError("CloudEvent has both 'data' and 'data_base64'")
            encoded = event.pop("data_base64")
            if not isinstance(encoded, str):
                raise DecodeError("CloudEvent 'data_base64' must be a string")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DecodeError(f"CloudEvent 'data_base64' is not valid base64: {exc}") from exc
            content_type = event.get("datacontenttype")
            if isinstance(content_type, str) and _is_text_type(content_type):
                event["data"] = _text(raw)
            else:
                event["data"] = self.inner.decode(replace(record, value=raw))
        else:
            event.setdefault("data", None)
        return event

    # -- binary --------------------------------------------------------------------

    def _binary(self, record: Record) -> dict[str, Any]:
        event: dict[str, Any] = {}
        for name, value in record.headers:  # later repeats win, like Record.header()
            lowered = name.lower()
            if lowered.startswith(HEADER_PREFIX) and len(lowered) > len(HEADER_PREFIX):
                text = _header_text(name, value)
                if text is not None:
                    event[lowered[len(HEADER_PREFIX) :]] = text
        content_type = _content_type(record)
        if content_type is not None:
            event["datacontenttype"] = content_type
        _check_required(event, "binary")
        ordered = {a: event.pop(a) for a in REQUIRED_ATTRIBUTES}
        ordered.update(event)
        if record.value is None:
            ordered["data"] = None
        elif content_type is not None and _is_text_type(content_type):
            ordered["data"] = _text(record.value)
        else:
            ordered["data"] = self.inner.decode(record)
        return ordered


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("CloudEvent text data is not valid UTF-8") from exc
